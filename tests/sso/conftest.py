"""A real OpenID Connect provider (node `oidc-provider`) and hubs that trust it.

The provider runs as a node process on 127.0.0.1 (port 0) for the whole test session;
tests choose who signs in next with `provider.set_account(...)`. Hubs allow outbound
calls to loopback (`outbound_allowed_networks`), which a real install would not need.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc
from tests.hub.conftest import TEST_SETTINGS, Hub, start_hub
from tests.sso.browser import authorize

OIDC_DIR = Path(__file__).parent / "oidc"
HUB_CLIENT = "modelfleet-hub"
SSO_SETTINGS = dataclasses.replace(TEST_SETTINGS, outbound_allowed_networks="127.0.0.0/8")
REDIRECT = "http://127.0.0.1:{port}/callback"


@dataclasses.dataclass
class OidcProvider:
    issuer: str
    client_secret: str

    def set_account(self, sub: str, email: str, **claims: Any) -> None:
        account = {"sub": sub, "email": email, "email_verified": True, "name": sub, **claims}
        requests.post(f"{self.issuer}/test/account", json=account, timeout=5).raise_for_status()

    def rotate_keys(self) -> str:
        response = requests.post(f"{self.issuer}/test/rotate", timeout=5)
        response.raise_for_status()
        return str(response.json()["kid"])

    def stats(self) -> dict[str, int]:
        return dict(requests.get(f"{self.issuer}/test/stats", timeout=5).json())


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    assert (OIDC_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "run `npm ci` in tests/sso/oidc first (.ci/run does)"
    )
    secret = "hub-client-" + secrets.token_urlsafe(16)
    process = subprocess.Popen(
        ["node", str(OIDC_DIR / "provider.mjs")],
        cwd=OIDC_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "OIDC_HUB_CLIENT_SECRET": secret},
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        # Warm the provider's request path once, so timings measure the hub, not node's JIT.
        requests.get(f"{ready['issuer']}/.well-known/openid-configuration", timeout=10)
        yield OidcProvider(issuer=ready["issuer"], client_secret=secret)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def sso_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub (SQLite) per test module; tests use their own provider and user names."""
    data = tmp_path_factory.mktemp("hub")
    server, handle = start_hub(data / "hub", f"sqlite:///{data / 'hub.db'}", SSO_SETTINGS)
    try:
        yield handle
    finally:
        handle.channel.close()
        server.stop()
        handle.state.db.dispose()


def sso_stub(hub: Hub) -> auth_pb2_grpc.SsoStub:
    return auth_pb2_grpc.SsoStub(hub.channel)


def add_provider(hub: Hub, provider: OidcProvider, name: str, **spec: Any) -> auth_pb2.SsoProvider:
    fields: dict[str, Any] = {
        "name": name,
        "issuer": provider.issuer,
        "client_id": HUB_CLIENT,
        "scopes": "openid email profile groups",
        "jit_user_creation": True,
        **spec,
    }
    return sso_stub(hub).CreateSsoProvider(
        auth_pb2.CreateSsoProviderRequest(
            spec=auth_pb2.SsoProviderSpec(**fields), client_secret=provider.client_secret
        ),
        metadata=hub.admin_md(),
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclasses.dataclass
class Redirect:
    """What the loopback redirect received, and what the client kept."""

    code: str
    state: str
    verifier: str
    redirect_uri: str
    started_state: str


def browser_step(
    hub: Hub, provider_name: str, *, port: int = 48123, tamper: Any = None
) -> Redirect:
    """StartSsoLogin, then the browser's round trip to the provider and back to loopback."""
    from urllib.parse import parse_qs, urlsplit

    verifier, challenge = pkce()
    redirect_uri = REDIRECT.format(port=port)
    started = sso_stub(hub).StartSsoLogin(
        auth_pb2.StartSsoLoginRequest(
            provider=provider_name,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    url = tamper(started.authorization_url) if tamper else started.authorization_url
    back = authorize(url, stop_at=redirect_uri)
    query = parse_qs(urlsplit(back).query)
    assert "code" in query, back
    return Redirect(query["code"][0], query["state"][0], verifier, redirect_uri, started.state)


def complete(hub: Hub, r: Redirect) -> auth_pb2.TokenPair:
    return sso_stub(hub).CompleteSsoLogin(
        auth_pb2.CompleteSsoLoginRequest(
            state=r.state, code=r.code, code_verifier=r.verifier, redirect_uri=r.redirect_uri
        )
    )
