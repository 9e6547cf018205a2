"""API-key secrets: `mfk_<prefix>_<random>`; the prefix finds the row, the hash proves it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

SCHEME = "mfk_"


@dataclass(frozen=True, slots=True)
class NewSecret:
    secret: str
    prefix: str
    digest: str


def new_secret() -> NewSecret:
    prefix = secrets.token_hex(5)
    secret = f"{SCHEME}{prefix}_{secrets.token_urlsafe(32)}"
    return NewSecret(secret=secret, prefix=prefix, digest=digest(secret))


def digest(secret: str) -> str:
    # The secret has 256 random bits, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_prefix(secret: str) -> str | None:
    if not secret.startswith(SCHEME):
        return None
    prefix, sep, rest = secret[len(SCHEME) :].partition("_")
    if not sep or len(prefix) != 10 or not rest:
        return None
    return prefix


def display_prefix(prefix: str) -> str:
    return f"{SCHEME}{prefix}"
