"""The inference key format shared by the hub (which issues keys) and the agent (which checks them).

A key reads `mfk_<id>_<random>`; only sha256 of the whole key is ever stored or sent. The id
is public and lets the agent find the one entry to compare against in constant time.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "mfk"


def new_secret() -> tuple[str, str]:
    """A fresh key: its public id and the secret `mfk_<id>_<random>` (256 random bits)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def digest_of(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()
