"""Token storage: the keyring when usable, else a 0600 file that says so."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelfleet.client import FileStore, StoredTokens, account_name, default_store
from modelfleet.client._credentials import usable_keyring

TOKENS = StoredTokens("refresh-secret", "access-secret", datetime(2026, 1, 1, tzinfo=UTC))


def test_file_store_round_trip_with_mode_0600(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "creds" / "credentials.json")
    account = account_name("hub:1", "ada")
    assert store.load(account) is None
    store.save(account, TOKENS)
    store.save(account_name("hub:1", "bo"), StoredTokens("other"))
    assert store.load(account) == TOKENS
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    store.delete(account)
    assert store.load(account) is None
    assert store.load(account_name("hub:1", "bo")) == StoredTokens("other")


def test_file_store_treats_a_corrupt_entry_as_signed_out(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "credentials.json")
    store.path.write_text('{"ada@hub:1": "garbage"}')
    assert store.load("ada@hub:1") is None


def test_without_keyring_backend_the_file_is_used_and_announced(
    private_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # This machine has no Secret Service: keyring resolves to its "fail" backend.
    assert usable_keyring() is None
    store = default_store()
    assert isinstance(store, FileStore) and store.path == private_data_dir / "credentials.json"
    assert "mode 0600" in capsys.readouterr().err


def test_tokens_never_show_in_repr() -> None:
    assert "secret" not in repr(TOKENS)
    assert StoredTokens.loads(TOKENS.dumps()) == TOKENS
