"""Helpers shared by the blob-store tests."""

from __future__ import annotations

import hashlib

from modelfleet.agent.hub.blobs import BlobStats, BlobStore

# Small encryption blocks make block-edge cases cheap to reach.
SMALL_BLOCK = 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(store: BlobStore, data: bytes, chunk: int = 777) -> BlobStats:
    """Upload `data` in `chunk`-sized writes and finish."""
    upload_id = store.begin(sha(data), len(data))
    offset = 0
    for start in range(0, len(data), chunk):
        offset = store.write(upload_id, offset, data[start : start + chunk])
    return store.finish(upload_id)


def read_all(store: BlobStore, digest: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(store.read(digest, offset, length))
