"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30 s) and otpauth URIs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

PERIOD = 30
DIGITS = 6
# One step either side of now: clocks drift and people type slowly.
WINDOW = 1
SEED_BYTES = 20


def new_seed() -> str:
    """A random 160-bit secret in unpadded base32 (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode().rstrip("=")


def code_at(seed: str, step: int) -> str:
    key = base64.b32decode(seed + "=" * (-len(seed) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // PERIOD)


def matching_step(seed: str, code: str, now: float | None = None) -> int | None:
    """The time step within the window whose code is `code` (latest first), else None."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step + WINDOW, step - WINDOW - 1, -1):
        if hmac.compare_digest(code_at(seed, candidate), code):
            return candidate
    return None


def otpauth_uri(seed: str, account: str, issuer: str = "modelfleet") -> str:
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"secret": seed, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": PERIOD}
    )
    return f"otpauth://totp/{label}?{query}"


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isdigit()
