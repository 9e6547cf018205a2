"""Host-header refusals (DNS rebinding), the open non-loopback warning, /metrics off loopback."""

from __future__ import annotations

import http.client
import socket
import subprocess
from pathlib import Path

import pytest

from tests.node_security.conftest import Spawn, create_key
from tests.serving.agentproc import AGENT_COMMAND, Agent

WARNING = "SERVING WITHOUT AUTHENTICATION on non-loopback address 0.0.0.0"


def get(port: int, path: str, host: str | None, address: str = "127.0.0.1",
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
    conn = http.client.HTTPConnection(address, port, timeout=30)
    conn.putrequest("GET", path, skip_host=True)
    if host is not None:
        conn.putheader("Host", host)
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    result = resp.status, resp.read()
    conn.close()
    return result


def outward_address() -> str:
    """This machine's non-loopback IPv4 address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("10.255.255.255", 1))
        address = str(sock.getsockname()[0])
    assert not address.startswith("127."), "the test needs a non-loopback interface"
    return address


@pytest.fixture(scope="module")
def loopback(models: Path, spawn: Spawn) -> Agent:
    return spawn(models, "--allowed-hosts", "api.example.test, models.internal")


def test_rebound_host_names_are_refused(loopback: Agent) -> None:
    port = loopback.http_port
    for host in (
        "attacker.example",
        f"attacker.example:{port}",
        "127.0.0.1.nip.io",
        "localhost.evil",
    ):
        status, body = get(port, "/v2/models/credit-risk", host)
        assert status == 421, (host, body)
        assert b"is not a name this agent answers for" in body
        assert b"--allowed-hosts" in body
    # Health probes too: every HTTP route is behind the check.
    assert get(port, "/v2/health/live", "attacker.example")[0] == 421
    assert get(port, "/v2/health/live", "127.0.0.1:abc")[0] == 400


def test_bound_address_localhost_and_allowed_names_pass(loopback: Agent) -> None:
    port = loopback.http_port
    for host in (f"127.0.0.1:{port}", "127.0.0.1", "localhost", f"LOCALHOST:{port}",
                 "api.example.test", f"models.internal:{port}", "[::1]:80", None):  # fmt: skip
        status, body = get(port, "/v2/models/credit-risk", host)
        assert status == 200, (host, body)


def test_loopback_agent_does_not_warn(loopback: Agent) -> None:
    assert "WITHOUT AUTHENTICATION" not in loopback.stderr()


def test_open_non_loopback_agent_warns_and_guards_metrics(models: Path, spawn: Spawn) -> None:
    agent = spawn(models, "--host", "0.0.0.0")
    assert WARNING in agent.stderr()
    assert "--inference-keys" in agent.stderr()
    address = outward_address()
    # Bound to a wildcard: no Host check by default, inference is open (as warned).
    assert get(agent.http_port, "/v2/models/fraud", "anything.example", address)[0] == 200
    # /metrics: open to loopback clients, the control token for everyone else.
    assert get(agent.http_port, "/metrics", None)[0] == 200
    status, body = get(agent.http_port, "/metrics", None, address)
    assert status == 401 and b"control token" in body
    bad = {"Authorization": "Bearer nope"}
    assert get(agent.http_port, "/metrics", None, address, bad)[0] == 401
    good = {"Authorization": f"Bearer {agent.token}"}
    status, body = get(agent.http_port, "/metrics", None, address, good)
    assert status == 200 and b"modelfleet_in_flight" in body


def test_keyed_non_loopback_agent_does_not_warn(models: Path, spawn: Spawn, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    assert create_key(keys, "--models", "*").returncode == 0
    agent = spawn(models, "--host", "0.0.0.0", "--inference-keys", str(keys),
                  "--allowed-hosts", "api.example.test")  # fmt: skip
    assert "WITHOUT AUTHENTICATION" not in agent.stderr()
    # An explicit list turns the Host check on for a wildcard bind; IP literals still pass.
    assert get(agent.http_port, "/v2/health/live", "evil.example")[0] == 421
    assert get(agent.http_port, "/v2/health/live", outward_address())[0] == 200


def test_serve_help_says_so() -> None:
    done = subprocess.run([str(AGENT_COMMAND), "serve", "--help"], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    text = " ".join(done.stdout.split())
    assert "loud WARNING" in text and "--inference-keys" in text
    assert "--allowed-hosts" in text and "--tls-cert" in text
