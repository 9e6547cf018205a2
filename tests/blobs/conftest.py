"""Fixtures for the blob-store tests: a keyring file and stores with small blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from blobhelp import SMALL_BLOCK

from modelfleet.agent.hub.blobs import Keyring, LocalBlobStore, create_keyring


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    create_keyring(path)
    return path


@pytest.fixture
def keyring(keyring_path: Path) -> Keyring:
    from modelfleet.agent.hub.blobs import load_keyring

    return load_keyring(keyring_path)


@pytest.fixture
def make_store(tmp_path: Path, keyring: Keyring) -> Iterator[Callable[..., LocalBlobStore]]:
    """Stores on one folder (a new instance behaves like a restarted hub)."""
    stores: list[LocalBlobStore] = []

    def make(**options: int) -> LocalBlobStore:
        options.setdefault("block_size", SMALL_BLOCK)
        options.setdefault("chunk_size", 300)
        store = LocalBlobStore(tmp_path / "store", keyring, **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., LocalBlobStore]) -> LocalBlobStore:
    return make_store()
