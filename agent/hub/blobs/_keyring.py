"""The at-rest encryption keyring: key ids mapped to 32-byte AES-256 keys, one of them current."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelfleet.agent.hub.blobs._errors import KeyringError

KEYRING_FORMAT = 1
KEY_BYTES = 32


def new_key_id() -> str:
    """A fresh random key id (16 hex characters)."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Keyring:
    """Keys by id; `current_id` encrypts new blobs, every listed key still decrypts old ones."""

    current_id: str
    keys: dict[str, bytes]
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise KeyringError(
                f"keyring: current key id {self.current_id!r} is not among its keys",
                field="current",
                expected="the id of one of the listed keys",
            )
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise KeyringError(
                    f"keyring: key {key_id!r} has {len(key)} bytes",
                    field=f"keys.{key_id}",
                    expected=f"{KEY_BYTES} bytes (AES-256)",
                )
            self._ciphers[key_id] = AESGCM(key)

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-GCM cipher for `key_id`; KeyringError if the keyring does not hold it."""
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise KeyringError(
                f"keyring has no key {key_id!r} (removed, or the wrong keyring is loaded)",
                field="key_id",
                expected="a key id present in the keyring",
            ) from None

    def __repr__(self) -> str:
        # Never render key material, even in debug output.
        return f"Keyring(current_id={self.current_id!r}, key_ids={sorted(self.keys)!r})"


def _encode(keyring: Keyring) -> bytes:
    keys = {k: base64.b64encode(v).decode("ascii") for k, v in keyring.keys.items()}
    doc = {"format": KEYRING_FORMAT, "current": keyring.current_id, "keys": keys}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write `data` to a 0600 file; the replace variant goes through a temp file and rename."""
    target = path if exclusive else path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if not exclusive:
        os.replace(target, path)


def create_keyring(path: str | os.PathLike[str]) -> Keyring:
    """Create a keyring file (mode 0600) with one fresh current key; refuses to overwrite."""
    key_id = new_key_id()
    keyring = Keyring(current_id=key_id, keys={key_id: secrets.token_bytes(KEY_BYTES)})
    try:
        _write_private(Path(path), _encode(keyring), exclusive=True)
    except FileExistsError:
        raise KeyringError(
            f"keyring file {os.fspath(path)!r} already exists",
            field="path",
            expected="a path where no keyring exists yet (use rotate_keyring to add a key)",
        ) from None
    return keyring


def load_keyring(path: str | os.PathLike[str]) -> Keyring:
    """Read a keyring file; refuses one that group or others can read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyringError(
            f"keyring file {os.fspath(path)!r} does not exist",
            field="path",
            expected="an existing keyring file (created by create_keyring)",
        ) from None
    except OSError as exc:
        raise KeyringError(
            f"keyring file {os.fspath(path)!r} cannot be opened: {exc.strerror}",
            field="path",
            expected="a regular file, not a symbolic link",
        ) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if mode & 0o077:
            raise KeyringError(
                f"keyring file {os.fspath(path)!r} has mode {stat.S_IMODE(mode):04o}",
                field="mode",
                expected="0600 (no access for group or others)",
            )
        raw = handle.read()
    try:
        doc = orjson.loads(raw)
        if doc["format"] != KEYRING_FORMAT:
            raise ValueError(f"format {doc['format']!r}")
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
        current = str(doc["current"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyringError(
            f"keyring file {os.fspath(path)!r} is malformed ({exc})",
            field="keyring",
            expected=f'JSON {{"format": {KEYRING_FORMAT}, "current": id, "keys": {{id: base64}}}}',
        ) from None
    return Keyring(current_id=current, keys=keys)


def rotate_keyring(path: str | os.PathLike[str]) -> Keyring:
    """Add a fresh key to the keyring file and make it current; old keys stay for reading."""
    old = load_keyring(path)
    key_id = new_key_id()
    keyring = Keyring(current_id=key_id, keys={**old.keys, key_id: secrets.token_bytes(KEY_BYTES)})
    _write_private(Path(path), _encode(keyring), exclusive=False)
    return keyring
