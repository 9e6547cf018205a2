"""Access-token claims, signing and cached verification."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ISSUER = "modelfleet-hub"
_ALGORITHMS = ["EdDSA"]


class TokenError(Exception):
    """The token is malformed, badly signed, expired or from another issuer."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """Who the bearer is; `workspaces` maps workspace id -> role number (`modelfleet.v1.Role`)."""

    subject: str
    kind: str
    name: str
    system_admin: bool
    workspaces: Mapping[str, int]
    session_id: str
    issued_at: float
    expires_at: float
    token_id: str = field(default="")


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short stable id of a signing key, carried in the token header for key rotation."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class TokenSigner:
    """Issues access tokens with the hub's private signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.kid = key_id(private_key.public_key())

    def sign(self, claims: AccessClaims) -> str:
        payload = {
            "iss": ISSUER,
            "sub": claims.subject,
            "knd": claims.kind,
            "name": claims.name,
            "sa": claims.system_admin,
            "ws": dict(claims.workspaces),
            "sid": claims.session_id,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "jti": claims.token_id,
        }
        return jwt.encode(payload, self._key, algorithm="EdDSA", headers={"kid": self.kid})


class TokenVerifier:
    """Verifies access tokens; a verified token is cached until it expires.

    The cache makes the per-RPC cost of a token already seen a dict lookup and a clock
    read; the signature is checked once per token. Thread-safe.
    """

    def __init__(
        self, public_keys: Mapping[str, Ed25519PublicKey], *, cache_size: int = 10_000
    ) -> None:
        self._keys = dict(public_keys)
        self._cache: dict[str, AccessClaims] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str, *, now: float | None = None) -> AccessClaims:
        current = time.time() if now is None else now
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > current:
                return cached
            raise TokenError("access token expired")
        claims = self._verify_signature(token, current)
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._evict(current)
            self._cache[token] = claims
        return claims

    def _evict(self, now: float) -> None:
        expired = [t for t, c in self._cache.items() if c.expires_at <= now]
        for t in expired:
            del self._cache[t]
        # Still full: drop the oldest half (dicts keep insertion order).
        if len(self._cache) >= self._cache_size:
            for t in list(self._cache)[: self._cache_size // 2]:
                del self._cache[t]

    def _verify_signature(self, token: str, now: float) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid", "")))
            if key is None:
                raise TokenError("access token signed by an unknown key")
            payload = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("access token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"access token rejected ({type(exc).__name__})") from None
        try:
            claims = AccessClaims(
                subject=str(payload["sub"]),
                kind=str(payload.get("knd", "user")),
                name=str(payload.get("name", "")),
                system_admin=bool(payload.get("sa", False)),
                workspaces={str(k): int(v) for k, v in dict(payload.get("ws", {})).items()},
                session_id=str(payload.get("sid", "")),
                issued_at=float(payload["iat"]),
                expires_at=float(payload["exp"]),
                token_id=str(payload.get("jti", "")),
            )
        except (TypeError, ValueError, AttributeError):
            raise TokenError("access token has malformed claims") from None
        if claims.expires_at <= now:
            raise TokenError("access token expired")
        return claims
