"""ID token checks and the JWKS cache, with tokens minted by the real provider."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from modelfleet.agent.hub.alerts.outbound import OutboundPolicy, parse_networks
from modelfleet.agent.hub.sso.http import IdpError, IdpHttp
from modelfleet.agent.hub.sso.oidc import IdTokenRejected, OidcDirectory, validate_id_token
from tests.hub.conftest import Hub
from tests.sso.browser import authorize
from tests.sso.conftest import HUB_CLIENT, OidcProvider, add_provider, browser_step, complete, pkce

T = TypeVar("T")
REDIRECT = "http://127.0.0.1:48200/callback"


def run(work: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await work

    return asyncio.run(wrapped())


def directory(ttl: float = 300.0) -> OidcDirectory:
    policy = OutboundPolicy(parse_networks("127.0.0.0/8"))
    return OidcDirectory(IdpHttp(policy, 10.0), ttl)


def mint(provider: OidcProvider, client_id: str, nonce: str) -> str:
    """An ID token from the provider's own code flow for `client_id`."""
    verifier, challenge = pkce()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid email",
            "state": "s",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    back = authorize(f"{provider.issuer}/auth?{query}", stop_at=REDIRECT)
    code = parse_qs(urlsplit(back).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    auth: Any = None
    if client_id == HUB_CLIENT:
        auth = (HUB_CLIENT, provider.client_secret)
    else:
        form["client_id"] = client_id
    response = requests.post(f"{provider.issuer}/token", data=form, auth=auth, timeout=10)
    response.raise_for_status()
    return str(response.json()["id_token"])


def check(d: OidcDirectory, provider: OidcProvider, token: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": HUB_CLIENT,
        "nonce": "n-1",
        "leeway": 60.0,
        **kw,
    }
    return run(validate_id_token(token, d, **args))


def test_a_valid_token_passes(oidc_provider: OidcProvider) -> None:
    oidc_provider.set_account("ivy-1", "ivy@example.com")
    claims = check(directory(), oidc_provider, mint(oidc_provider, HUB_CLIENT, "n-1"))
    assert claims["sub"] == "ivy-1" and claims["email"] == "ivy@example.com"


def test_wrong_audience_expired_and_nonce(oidc_provider: OidcProvider) -> None:
    oidc_provider.set_account("ivy-1", "ivy@example.com")
    d = directory()
    other = mint(oidc_provider, "other-app", "n-1")
    with pytest.raises(IdTokenRejected, match="audience"):
        check(d, oidc_provider, other)
    token = mint(oidc_provider, HUB_CLIENT, "n-1")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    with pytest.raises(IdTokenRejected, match="expired"):
        check(d, oidc_provider, token, now=exp + 61)
    assert check(d, oidc_provider, token, now=exp + 59)["sub"] == "ivy-1"  # within leeway
    with pytest.raises(IdTokenRejected, match="nonce"):
        check(d, oidc_provider, token, nonce="another")
    # A provider whose discovery names another issuer is not trusted at all.
    with pytest.raises(IdpError, match="names issuer"):
        check(d, oidc_provider, token, issuer=oidc_provider.issuer + "/")


def _forged(kid: str, claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_unknown_kid_and_forged_signatures(oidc_provider: OidcProvider) -> None:
    oidc_provider.set_account("ivy-1", "ivy@example.com")
    d = directory()
    real = mint(oidc_provider, HUB_CLIENT, "n-1")
    claims = jwt.decode(real, options={"verify_signature": False})
    check(d, oidc_provider, real)  # keys cached
    before = oidc_provider.stats()["jwks"]

    async def flood() -> list[BaseException | dict[str, Any]]:
        tokens = [_forged(f"made-up-{i}", claims) for i in range(3)] * 20
        return await asyncio.gather(
            *(
                validate_id_token(
                    t, d, issuer=oidc_provider.issuer, client_id=HUB_CLIENT, nonce="n-1", leeway=60
                )
                for t in tokens
            ),
            return_exceptions=True,
        )

    results = asyncio.run(flood())
    assert all(isinstance(r, IdTokenRejected) and "kid" in str(r) for r in results)
    # 60 tokens with unknown key ids: one forced fetch for the whole cache period.
    assert oidc_provider.stats()["jwks"] - before == 1
    # A published kid with someone else's signature.
    header_kid = jwt.get_unverified_header(real)["kid"]
    with pytest.raises(IdTokenRejected, match="signature"):
        check(d, oidc_provider, _forged(header_kid, claims))
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(IdTokenRejected, match="algorithm"):
        check(d, oidc_provider, unsigned)


def test_key_rotation_refetches_once_under_load(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    oidc_provider.set_account("jack-1", "jack@example.com")
    name = f"rot-{secrets.token_hex(3)}"
    add_provider(sso_hub, oidc_provider, name)
    assert complete(sso_hub, browser_step(sso_hub, name)).principal.username == "jack"
    d = directory()
    check(d, oidc_provider, mint(oidc_provider, HUB_CLIENT, "n-1"))
    oidc_provider.rotate_keys()
    # The hub's cache holds the old keys; the new kid makes it fetch the keys again.
    assert complete(sso_hub, browser_step(sso_hub, name)).principal.username == "jack"
    rotated = mint(oidc_provider, HUB_CLIENT, "n-1")
    before = oidc_provider.stats()["jwks"]

    async def burst() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(
                validate_id_token(
                    rotated, d, issuer=oidc_provider.issuer, client_id=HUB_CLIENT, nonce="n-1",
                    leeway=60,
                )
                for _ in range(50)
            )
        )  # fmt: skip

    assert all(c["sub"] == "jack-1" for c in asyncio.run(burst()))
    # 50 concurrent checks of a token with the new kid: one fetch between them.
    assert oidc_provider.stats()["jwks"] - before == 1
