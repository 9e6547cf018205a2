"""Join tokens: the single-use secret an agent presents to enrol with a hub.

Text form: ``mfjt1_`` + base64url (no padding) of canonical JSON
``{"v": 1, "id": ..., "secret": ..., "ca": "sha256:<hex>", "hub": "host:port" or ""}``.
The token carries the hub CA fingerprint so a joining agent can pin the hub before it
trusts anything the hub says; the hub keeps only a hash of the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

PREFIX = "mfjt1_"
VERSION = 1
SECRET_BYTES = 32
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELDS = {"v", "id", "secret", "ca", "hub"}


class JoinTokenError(ValueError):
    """The text is not a well-formed join token; the message names what is wrong."""


@dataclass(frozen=True)
class JoinToken:
    """A decoded join token. `secret` is the base64url text of 32 random bytes."""

    token_id: str
    secret: str
    ca_fingerprint: str
    hub: str = ""

    def __post_init__(self) -> None:
        if not _TOKEN_ID.match(self.token_id):
            raise JoinTokenError("join token: 'id' must be 1-64 characters of [A-Za-z0-9_-]")
        try:
            raw = _b64decode(self.secret)
        except JoinTokenError:
            raise JoinTokenError("join token: 'secret' must be base64url text") from None
        if len(raw) != SECRET_BYTES:
            raise JoinTokenError(f"join token: 'secret' must encode {SECRET_BYTES} bytes")
        if not _FINGERPRINT.match(self.ca_fingerprint):
            raise JoinTokenError("join token: 'ca' must be 'sha256:' followed by 64 lowercase hex")
        if len(self.hub) > 255 or any(c.isspace() for c in self.hub):
            raise JoinTokenError("join token: 'hub' must be a host:port hint without spaces")

    @classmethod
    def generate(cls, token_id: str, ca_fingerprint: str, hub: str = "") -> JoinToken:
        """A new token with a fresh random secret."""
        return cls(token_id, _b64encode(secrets.token_bytes(SECRET_BYTES)), ca_fingerprint, hub)

    def encode(self) -> str:
        body = {
            "v": VERSION,
            "id": self.token_id,
            "secret": self.secret,
            "ca": self.ca_fingerprint,
            "hub": self.hub,
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return PREFIX + _b64encode(canonical.encode())

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def encode(token: JoinToken) -> str:
    return token.encode()


def decode(text: str) -> JoinToken:
    """Parse a token's text; raise JoinTokenError naming the first problem found."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise JoinTokenError(f"join token: must start with {PREFIX!r}")
    try:
        body = json.loads(_b64decode(text[len(PREFIX) :]))
    except (JoinTokenError, UnicodeDecodeError, json.JSONDecodeError):
        raise JoinTokenError("join token: body is not base64url-encoded JSON") from None
    if not isinstance(body, dict):
        raise JoinTokenError("join token: body must be a JSON object")
    if body.get("v") != VERSION:
        got = body.get("v")
        raise JoinTokenError(f"join token: unsupported version {got!r}, expected {VERSION}")
    missing = sorted(_FIELDS - body.keys())
    if missing:
        raise JoinTokenError(f"join token: missing field(s) {', '.join(missing)}")
    extra = sorted(body.keys() - _FIELDS)
    if extra:
        raise JoinTokenError(f"join token: unexpected field(s) {', '.join(extra)}")
    for name in ("id", "secret", "ca", "hub"):
        if not isinstance(body[name], str):
            raise JoinTokenError(f"join token: '{name}' must be a string")
    return JoinToken(body["id"], body["secret"], body["ca"], body["hub"])


def hash_secret(secret: str) -> str:
    """What the hub stores: hex sha256 of the secret text (the secret is 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise JoinTokenError("join token: invalid base64url characters")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise JoinTokenError("join token: invalid base64url") from None
