"""`modelfleet login --sso` (system browser, loopback redirect) and `--device`, as processes
against a TLS hub; $BROWSER points `webbrowser` at the headless stand-in (browser.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest

from modelfleet.agent.hub.bootstrap import init_hub
from modelfleet.agent.hub.datadir import HubPaths
from modelfleet.agent.hub.server import build_server, server_credentials
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import modelfleet_command
from tests.hub.conftest import ADMIN_PASSWORD, _ServerThread
from tests.sso.browser import approve_device
from tests.sso.conftest import HUB_CLIENT, SSO_SETTINGS, OidcProvider

BROWSER = Path(__file__).with_name("browser.py")


class _TlsServer(_ServerThread):
    def __init__(self, state: HubState, paths: HubPaths) -> None:
        self._paths = paths
        super().__init__(state)

    async def _start(self, state: HubState) -> int:
        self.server = build_server(state)
        port = self.server.add_secure_port("127.0.0.1:0", server_credentials(self._paths))
        await self.server.start()
        return port


@pytest.fixture(scope="module")
def tls_hub(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: OidcProvider
) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("tls-hub")
    paths = HubPaths(data / "hub")
    init_hub(
        paths.root,
        db_url=f"sqlite:///{data / 'hub.db'}",
        admin_password=ADMIN_PASSWORD,
        settings=SSO_SETTINGS,
    )
    state = HubState.open(paths, SSO_SETTINGS)
    server = _TlsServer(state, paths)
    address = f"127.0.0.1:{server.port}"
    credentials = grpc.ssl_channel_credentials(paths.ca_cert.read_bytes())
    with grpc.secure_channel(address, credentials) as channel:
        auth = auth_pb2_grpc.AuthStub(channel)
        token = auth.Login(auth_pb2.LoginRequest(username="admin", password=ADMIN_PASSWORD))
        auth_pb2_grpc.SsoStub(channel).CreateSsoProvider(
            auth_pb2.CreateSsoProviderRequest(
                spec=auth_pb2.SsoProviderSpec(
                    name="corp", issuer=oidc_provider.issuer, client_id=HUB_CLIENT,
                    jit_user_creation=True,
                ),
                client_secret=oidc_provider.client_secret,
            ),
            metadata=[("authorization", f"Bearer {token.access_token}")],
        )  # fmt: skip
    try:
        yield address, paths.ca_cert
    finally:
        server.stop()
        state.db.dispose()


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env["MODELFLEET_DATA_DIR"] = str(tmp_path / "client")
    env["BROWSER"] = f"{sys.executable} {BROWSER} %s"
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        modelfleet_command(*args), env=env, capture_output=True, text=True, timeout=60
    )


def test_login_sso_through_the_browser(
    tls_hub: tuple[str, Path], oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    address, ca = tls_hub
    env = _env(tmp_path)
    oidc_provider.set_account("kim-1", "kim@example.com")
    done = _run(env, "login", "--sso", "--hub", address, "--hub-ca", str(ca))
    assert done.returncode == 0, done.stderr
    assert f"Logged in to {address} as kim" in done.stdout
    who = _run(env, "whoami", "--json")
    assert who.returncode == 0, who.stderr
    assert orjson.loads(who.stdout)["username"] == "kim"


def test_login_device(
    tls_hub: tuple[str, Path], oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    address, ca = tls_hub
    oidc_provider.set_account("lee-1", "lee@example.com")
    process = subprocess.Popen(
        modelfleet_command("login", "--device", "corp", "--hub", address, "--hub-ca", str(ca)),
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[Any] = []
        while not any("(or open " in line for line in lines):
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            lines.append(line)
        url = lines[-1].split("(or open ", 1)[1].rstrip(")\n")
        assert "enter the code" in lines[0]
        assert "Sign-in Success" in approve_device(url)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "as lee" in out
    finally:
        if process.poll() is None:
            process.kill()
