"""OpenID Connect discovery, signing keys (JWKS cache with rotation) and ID token checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from modelfleet.agent.hub.sso.http import IdpError, IdpHttp

# Asymmetric signatures only: never "none", never a MAC keyed with a public value.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_MAX_ISSUERS = 64


class IdTokenRejected(Exception):
    """An ID token that does not prove who signed in; the message says which check failed."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    device_authorization_endpoint: str
    token_auth_methods: tuple[str, ...]


@dataclass(slots=True)
class _Cached:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fetched_at: float | None = None
    # When an unknown key id last forced a fetch (bounded to once per period).
    forced_at: float | None = None
    metadata: ProviderMetadata | None = None
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)


class OidcDirectory:
    """Per-issuer discovery documents and signing keys, cached for `ttl` seconds.

    Concurrent lookups share one fetch (a lock per issuer, re-checked after waiting). A
    token signed with a key id not in the cache forces one more fetch, at most once per
    `ttl` per issuer, so a flood of tokens with made-up key ids cannot hammer the provider.
    """

    def __init__(
        self, http: IdpHttp, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.http = http
        self._ttl = ttl
        self._clock = clock
        self._discovery: dict[str, _Cached] = {}
        self._jwks: dict[str, _Cached] = {}

    async def metadata(self, issuer: str) -> ProviderMetadata:
        entry = _entry(self._discovery, issuer)
        if self._fresh(entry) and entry.metadata is not None:
            return entry.metadata
        async with entry.lock:
            if not self._fresh(entry) or entry.metadata is None:
                url = issuer.rstrip("/") + "/.well-known/openid-configuration"
                doc = await self.http.get_json(url, what="issuer discovery")
                entry.metadata = _metadata(issuer, doc)
                entry.fetched_at = self._clock()
        return entry.metadata

    async def signing_key(self, issuer: str, kid: str) -> jwt.PyJWK:
        meta = await self.metadata(issuer)
        entry = _entry(self._jwks, meta.jwks_uri)
        if not self._fresh(entry):
            async with entry.lock:
                if not self._fresh(entry):
                    await self._fetch_keys(entry, meta.jwks_uri)
        key = _pick(entry.keys, kid)
        if key is None:
            # Wait for a fetch in flight: it may bring the key (a rotation seen by many).
            async with entry.lock:
                if _pick(entry.keys, kid) is None and self._may_force(entry):
                    entry.forced_at = self._clock()
                    await self._fetch_keys(entry, meta.jwks_uri)
            key = _pick(entry.keys, kid)
        if key is None:
            raise IdTokenRejected(f"signed with a key the provider does not publish (kid {kid!r})")
        return key

    def _fresh(self, entry: _Cached) -> bool:
        return entry.fetched_at is not None and self._clock() - entry.fetched_at < self._ttl

    def _may_force(self, entry: _Cached) -> bool:
        return entry.forced_at is None or self._clock() - entry.forced_at >= self._ttl

    async def _fetch_keys(self, entry: _Cached, uri: str) -> None:
        try:
            doc = await self.http.get_json(uri, what="provider signing keys")
        except IdpError:
            if entry.keys:
                return  # keep serving the keys we have; the provider is briefly unreachable
            raise
        keys: dict[str, jwt.PyJWK] = {}
        for raw in doc.get("keys", []) if isinstance(doc.get("keys"), list) else []:
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type this hub cannot use; others may still do
            keys[str(raw.get("kid", ""))] = key
        entry.keys = keys
        entry.fetched_at = self._clock()


def _entry(cache: dict[str, _Cached], key: str) -> _Cached:
    entry = cache.get(key)
    if entry is None:
        if len(cache) >= _MAX_ISSUERS:
            cache.clear()
        entry = cache[key] = _Cached()
    return entry


def _pick(keys: dict[str, jwt.PyJWK], kid: str) -> jwt.PyJWK | None:
    if kid:
        return keys.get(kid)
    # No key id in the token: only unambiguous with a single published key.
    return next(iter(keys.values())) if len(keys) == 1 else None


def _metadata(issuer: str, doc: dict[str, Any]) -> ProviderMetadata:
    if doc.get("issuer") != issuer:
        raise IdpError(
            f"issuer discovery: the document names issuer {str(doc.get('issuer'))[:200]!r}, "
            f"not {issuer!r} (check the issuer URL, including any trailing slash)"
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(name), str):
            raise IdpError(f"issuer discovery: the document has no {name}")
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        device_authorization_endpoint=str(doc.get("device_authorization_endpoint") or ""),
        token_auth_methods=tuple(str(m) for m in methods),
    )


async def validate_id_token(
    token: str,
    directory: OidcDirectory,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    leeway: float,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of `token` once signature, issuer, audience, azp, times and nonce pass.

    `nonce` None skips the nonce check (the device flow has none); `now` is for tests.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IdTokenRejected("not a signed JWT") from None
    alg = str(header.get("alg", ""))
    if alg not in ALLOWED_ALGORITHMS:
        raise IdTokenRejected(f"signature algorithm {alg[:16]!r} is not accepted")
    key = await directory.signing_key(issuer, str(header.get("kid") or ""))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "aud", "sub", "exp", "iat"],
            },
        )
    except jwt.InvalidAudienceError:
        raise IdTokenRejected(f"audience is not this hub's client id {client_id!r}") from None
    except jwt.InvalidIssuerError:
        raise IdTokenRejected(f"issuer is not {issuer!r}") from None
    except jwt.InvalidSignatureError:
        raise IdTokenRejected("signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise IdTokenRejected(f"invalid token ({type(exc).__name__})") from None
    _check_times(claims, time.time() if now is None else now, leeway)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdTokenRejected("authorized party (azp) is not this hub's client")
    if nonce is not None and claims.get("nonce") != nonce:
        raise IdTokenRejected("nonce does not match the sign-in that was started")
    return claims


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> None:
    try:
        exp, iat = float(claims["exp"]), float(claims["iat"])
        nbf = float(claims.get("nbf", iat))
    except (TypeError, ValueError):
        raise IdTokenRejected("exp, iat or nbf is not a number") from None
    if exp + leeway <= now:
        raise IdTokenRejected("expired")
    if iat - leeway > now or nbf - leeway > now:
        raise IdTokenRejected("issued in the future (check the clocks)")
