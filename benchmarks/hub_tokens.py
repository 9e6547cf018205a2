"""Per-RPC cost of checking an access token: signature once, then the in-memory cache.

Prints one JSON line: microseconds per call for signing, a first (uncached) verification,
a bare Ed25519 signature check for comparison, a cached verification, and the
interceptor's whole authentication step (cached token -> principal).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelfleet.agent.hub.access.authenticate import Authenticator
from modelfleet.agent.hub.access.principal import Principal
from modelfleet.agent.hub.db import Database, make_engine
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.tokens import AccessClaims, TokenSigner, TokenVerifier, key_id


def _per_call_us(fn: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def _claims(i: int) -> AccessClaims:
    now = time.time()
    return AccessClaims(
        subject=f"user{i}",
        kind="user",
        name=f"user{i}",
        system_admin=False,
        workspaces={f"ws{j}": 2 for j in range(5)},
        session_id="s",
        issued_at=now,
        expires_at=now + 600,
        token_id=str(i),
    )


def main() -> None:
    key = Ed25519PrivateKey.generate()
    signer = TokenSigner(key)
    verifier = TokenVerifier({key_id(key.public_key()): key.public_key()}, cache_size=100_000)
    n = 5000
    tokens = [signer.sign(_claims(i)) for i in range(n)]
    sign_us = _per_call_us(lambda i: signer.sign(_claims(i)), 2000)
    uncached_us = _per_call_us(lambda i: verifier.verify(tokens[i]), n)
    cached_us = _per_call_us(lambda i: verifier.verify(tokens[i % n]), 200_000)
    public, message = key.public_key(), b"x" * 300
    signature = key.sign(message)
    ed25519_us = _per_call_us(lambda i: public.verify(signature, message), n)

    # The interceptor's step: header value -> Principal, no database (the engine is never used).
    auth = Authenticator(Database(make_engine("sqlite://")), verifier, HubSettings())
    loop = asyncio.new_event_loop()

    async def authenticate_many(count: int) -> float:
        start = time.perf_counter()
        for i in range(count):
            principal = await auth.authenticate(tokens[i % n])
            assert isinstance(principal, Principal)
        return (time.perf_counter() - start) / count * 1e6

    authenticate_us = loop.run_until_complete(authenticate_many(200_000))
    loop.close()
    print(
        json.dumps(
            {
                "benchmark": "hub_tokens",
                "sign_us": round(sign_us, 2),
                "verify_first_us": round(uncached_us, 2),
                "ed25519_verify_us": round(ed25519_us, 2),
                "verify_cached_us": round(cached_us, 2),
                "authenticate_cached_us": round(authenticate_us, 2),
                "token_bytes": len(tokens[0]),
                "target_us": 50,
            }
        )
    )


if __name__ == "__main__":
    main()
