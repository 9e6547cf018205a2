"""Where a signed-in user's tokens live: the OS keyring when one works, else a 0600 file."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from modelfleet.paths import user_data_dir, write_private_file

KEYRING_SERVICE = "modelfleet"


@dataclass(frozen=True, slots=True)
class StoredTokens:
    refresh_token: str
    # The short-lived access token is kept too, so that each CLI command need not refresh.
    access_token: str | None = None
    access_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"StoredTokens(access_expires_at={self.access_expires_at!r})"

    def dumps(self) -> str:
        return orjson.dumps(
            {
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "access_expires_at": self.access_expires_at.isoformat()
                if self.access_expires_at
                else None,
            }
        ).decode()

    @classmethod
    def loads(cls, text: str) -> StoredTokens | None:
        try:
            data = orjson.loads(text)
            expires = data.get("access_expires_at")
            return cls(
                refresh_token=str(data["refresh_token"]),
                access_token=data.get("access_token"),
                access_expires_at=datetime.fromisoformat(expires) if expires else None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


class CredentialStore(Protocol):
    """Keeps one token set per (hub, username)."""

    description: str

    def save(self, account: str, tokens: StoredTokens) -> None: ...
    def load(self, account: str) -> StoredTokens | None: ...
    def delete(self, account: str) -> None: ...


def account_name(hub: str, username: str) -> str:
    return f"{username}@{hub}"


class KeyringStore:
    """The OS keyring (Secret Service, macOS Keychain, Windows Credential Locker)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.description = f"the system keyring ({type(backend).__name__})"

    def save(self, account: str, tokens: StoredTokens) -> None:
        self._backend.set_password(KEYRING_SERVICE, account, tokens.dumps())

    def load(self, account: str) -> StoredTokens | None:
        text = self._backend.get_password(KEYRING_SERVICE, account)
        return StoredTokens.loads(text) if text else None

    def delete(self, account: str) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already signed out
            self._backend.delete_password(KEYRING_SERVICE, account)


class FileStore:
    """A JSON file readable by the owner only (mode 0600), one entry per account."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or user_data_dir() / "credentials.json"
        self.description = f"{self.path} (mode 0600; no usable keyring backend)"

    def _read(self) -> dict[str, str]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        )

    def _write(self, entries: dict[str, str]) -> None:
        write_private_file(self.path, orjson.dumps(entries))

    def save(self, account: str, tokens: StoredTokens) -> None:
        self._write({**self._read(), account: tokens.dumps()})

    def load(self, account: str) -> StoredTokens | None:
        text = self._read().get(account)
        return StoredTokens.loads(text) if text else None

    def delete(self, account: str) -> None:
        entries = self._read()
        if entries.pop(account, None) is not None:
            self._write(entries)


def usable_keyring() -> Any | None:
    """The keyring backend when one that can really store secrets is configured, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return backend


def default_store(*, announce: bool = True) -> CredentialStore:
    """The keyring when usable; otherwise the 0600 file, announced on stderr."""
    backend = usable_keyring()
    if backend is not None:
        return KeyringStore(backend)
    store = FileStore()
    if announce:
        print(f"modelfleet: storing credentials in {store.description}", file=sys.stderr)
    return store
