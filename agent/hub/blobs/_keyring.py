"""The at-rest encryption keyring: key ids mapped to 32-byte AES-256 keys, one of them current."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelfleet.agent.hub.blobs._errors import KeyringError

log = logging.getLogger(__name__)

KEYRING_FORMAT = 1
KEY_BYTES = 32


class KeySource(Protocol):
    """What encrypting code needs from a keyring: the current id, and a cipher per key id."""

    @property
    def current_id(self) -> str: ...

    def cipher(self, key_id: str) -> AESGCM: ...


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
    """Write `data` to a 0600 file; the replace variant goes through a temp file and rename,
    so a reader sees the old file or the new one, never a partial one."""
    target = path if exclusive else path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if not exclusive:
            os.replace(target, path)
    except BaseException:
        # Never leave a stray copy of key material behind.
        target.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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


def retire_keys(path: str | os.PathLike[str], keep: set[str]) -> Keyring:
    """Rewrite the keyring file with only the current key and the ids in `keep`."""
    old = load_keyring(path)
    kept = {k: v for k, v in old.keys.items() if k == old.current_id or k in keep}
    keyring = Keyring(current_id=old.current_id, keys=kept)
    _write_private(Path(path), _encode(keyring), exclusive=False)
    return keyring


class KeyringFile:
    """A keyring that follows its file, so a running hub picks up `hub rotate-keys` without a
    restart: the file is checked (one stat) whenever the current key is asked for (a new seal
    or blob), and read again when it asks for a key id it does not hold (a value sealed by a
    newer keyring). A file that fails to load keeps the keyring last read, with a warning."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._keyring = load_keyring(self.path)

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload(self, *, force: bool) -> None:
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp and not force:
                return
            try:
                keyring = load_keyring(self.path)
            except KeyringError as exc:
                # The message names the file and the problem, never key material.
                log.warning("keyring %s not reloaded, keeping the loaded one: %s", self.path, exc)
                self._stamp = stamp
                return
            if keyring.current_id != self._keyring.current_id:
                log.info(
                    "keyring %s reloaded: current key %s (%d keys)",
                    self.path.name,
                    keyring.current_id,
                    len(keyring.keys),
                )
            self._keyring, self._stamp = keyring, stamp

    @property
    def keyring(self) -> Keyring:
        """The keyring as of the file's last change."""
        self._reload(force=False)
        return self._keyring

    @property
    def current_id(self) -> str:
        return self.keyring.current_id

    def cipher(self, key_id: str) -> AESGCM:
        try:
            return self._keyring.cipher(key_id)
        except KeyringError:
            self._reload(force=True)
            return self._keyring.cipher(key_id)

    def __repr__(self) -> str:
        return f"KeyringFile({self.path.name!r}, {self._keyring!r})"
