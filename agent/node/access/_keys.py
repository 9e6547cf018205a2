"""Inference keys: the secret's format, the hashed entries kept on disk, and creating one.

A key reads `mfk_<id>_<secret>`; only sha256(key) is stored. The id is public and lets the
agent find the one entry to compare against (in constant time) without scanning them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from modelfleet.fleet.inference_keys import PREFIX, digest_of, new_secret

ALL_MODELS = "*"
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class KeysFileError(ValueError):
    """The keys file cannot be read; the message names the entry and field."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One inference key as the agent keeps it: its digest, scope and rate limit."""

    id: str
    digest: bytes
    #: model (deployment) names the key may call; "*" = every model
    models: frozenset[str]
    #: requests per second; None = no limit
    rate_per_s: float | None = None
    burst: int | None = None

    def allows(self, model: str) -> bool:
        return model in self.models or ALL_MODELS in self.models

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.digest.hex(),
            "models": sorted(self.models),
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
        }


def key_id_of(key: bytes) -> str | None:
    """The id part of `mfk_<id>_<secret>`, or None when the text is not shaped like a key."""
    parts = key.split(b"_", 2)
    if len(parts) != 3 or parts[0] != PREFIX.encode() or not parts[2]:
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


def entry_from_json(where: str, raw: Any) -> KeyEntry:
    """Validate one {"id","sha256","models","rate_per_s","burst"} object."""
    if not isinstance(raw, dict):
        raise KeysFileError(f"{where}: expected an object with id, sha256 and models")
    unknown = sorted(set(raw) - {"id", "sha256", "models", "rate_per_s", "burst"})
    if unknown:
        raise KeysFileError(f"{where}: unexpected field {unknown[0]!r}")
    key_id, sha, models = raw.get("id"), raw.get("sha256"), raw.get("models")
    if not isinstance(key_id, str) or not _ID.match(key_id):
        raise KeysFileError(f"{where}.id: expected 1-64 letters, digits or '-', got {key_id!r}")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise KeysFileError(f"{where}.sha256: expected 64 lower-case hex digits")
    if (
        not isinstance(models, list)
        or not models
        or not all(isinstance(m, str) and m for m in models)
    ):
        raise KeysFileError(f"{where}.models: expected a non-empty list of model names or '*'")
    rate, burst = limits_from(where, raw.get("rate_per_s"), raw.get("burst"))
    return KeyEntry(key_id, bytes.fromhex(sha), frozenset(models), rate, burst)


def limits_from(where: str, rate: Any, burst: Any) -> tuple[float | None, int | None]:
    """Check a rate limit: rate > 0 (or null = none), burst >= 1 (or null = max(1, rate))."""
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0
    ):
        raise KeysFileError(f"{where}.rate_per_s: expected a number > 0 or null, got {rate!r}")
    if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int) or burst < 1):
        raise KeysFileError(f"{where}.burst: expected an integer >= 1 or null, got {burst!r}")
    return (float(rate) if rate is not None else None), burst


def load_keys_file(path: Path) -> list[KeyEntry]:
    """Read {"keys": [...]}; KeysFileError naming the bad entry and field."""
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise KeysFileError(f"{path}: no such keys file") from None
    except orjson.JSONDecodeError as exc:
        raise KeysFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeysFileError(f'{path}: expected {{"keys": [...]}}')
    entries = [entry_from_json(f"keys[{i}]", raw) for i, raw in enumerate(document["keys"])]
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.id in seen:
            raise KeysFileError(f"keys[{i}].id: {entry.id!r} appears twice")
        seen.add(entry.id)
    return entries


def create_key(
    path: Path, models: Sequence[str], rate_per_s: float | None, burst: int | None
) -> tuple[str, KeyEntry]:
    """Make a new key, append its hashed entry to `path` (0600, atomic); returns the secret
    (shown once, never stored) and the entry."""
    where = "new key"
    if not models or not all(m.strip() for m in models):
        raise KeysFileError(f"{where}.models: expected one or more model names (or '*')")
    rate, burst = limits_from(where, rate_per_s, burst)
    entries = load_keys_file(path) if path.exists() else []
    key_id, secret = new_secret()
    entry = KeyEntry(key_id, digest_of(secret.encode()), frozenset(m.strip() for m in models),
                     rate, burst)  # fmt: skip
    document = {"keys": [e.to_json() for e in [*entries, entry]]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)
    return secret, entry
