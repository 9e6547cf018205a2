"""Secrets the hub stores for later use (channel passwords, webhook URLs, signing keys).

They are sealed with AES-256-GCM under the hub's secrets keyring (`keys/secrets.keyring`,
mode 0600, the same keyring format as the blob store's): the key id travels with each
sealed value, so a rotated keyring keeps opening older ones. The associated data binds a
sealed value to the row it belongs to, so a value copied to another row does not open.
The hub reads the keyring through `KeyringFile`, so `hub rotate-keys` (keyrotation.py)
takes effect in a running hub without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag

from modelfleet.agent.hub.blobs import KeyringError, KeyringFile, KeySource, create_keyring

_VERSION = b"\x01"
_KEY_ID_BYTES = 16
_NONCE_BYTES = 12


class SecretError(Exception):
    """A sealed value that does not open (wrong keyring, other row, or tampered)."""


def sealed_key_id(sealed: bytes) -> str:
    """The id of the key a sealed value was sealed with ("" if it is not a sealed value)."""
    if len(sealed) < 1 + _KEY_ID_BYTES or sealed[:1] != _VERSION:
        return ""
    return sealed[1 : 1 + _KEY_ID_BYTES].decode("ascii", errors="replace")


class SecretBox:
    def __init__(self, keyring: KeySource) -> None:
        self._keyring = keyring

    def seal(self, plaintext: str, context: str) -> bytes:
        """`plaintext` encrypted under the current key, bound to `context` (e.g. a row id)."""
        key_id = self._keyring.current_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keyring.cipher(key_id).encrypt(nonce, plaintext.encode(), context.encode())
        return _VERSION + key_id.encode("ascii") + nonce + sealed

    def open(self, sealed: bytes, context: str) -> str:
        if len(sealed) < 1 + _KEY_ID_BYTES + _NONCE_BYTES or sealed[:1] != _VERSION:
            raise SecretError("sealed secret: unknown format")
        key_id = sealed[1 : 1 + _KEY_ID_BYTES].decode("ascii", errors="replace")
        nonce = sealed[1 + _KEY_ID_BYTES : 1 + _KEY_ID_BYTES + _NONCE_BYTES]
        try:
            cipher = self._keyring.cipher(key_id)
            plain = cipher.decrypt(
                nonce, sealed[1 + _KEY_ID_BYTES + _NONCE_BYTES :], context.encode()
            )
        except KeyringError as exc:
            raise SecretError(f"sealed secret: {exc}") from None
        except InvalidTag:
            raise SecretError("sealed secret: does not open (tampered or another row's)") from None
        return plain.decode()

    def __repr__(self) -> str:
        return f"SecretBox({self._keyring!r})"


def ensure_secrets_keyring(path: Path) -> None:
    """Create the secrets keyring at `path` (0600) unless it exists (`hub init`)."""
    if not path.exists():
        create_keyring(path)


def load_secret_box(path: Path) -> SecretBox:
    """The box over the keyring file at `path`, following the file as it is rotated."""
    return SecretBox(KeyringFile(path))
