"""`modelfleet hub init` and `hub serve` as real processes: TLS, ready file, restart, stop."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import time

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc
from tests.conftest import RunningHub, modelfleet_command


def _channel(hub: RunningHub) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(hub.ca_pem.read_bytes())
    return grpc.secure_channel(hub.address, creds)


def test_tls_pinning_private_files_and_idempotent_init(running_hub: RunningHub) -> None:
    der = x509.load_pem_x509_certificate(running_hub.ca_pem.read_bytes()).public_bytes(Encoding.DER)
    assert running_hub.ca_fingerprint == "sha256:" + hashlib.sha256(der).hexdigest()
    with _channel(running_hub) as channel:
        info = auth_pb2_grpc.AuthStub(channel).GetHubInfo(auth_pb2.GetHubInfoRequest(), timeout=10)
        assert info.ca_fingerprint == running_hub.ca_fingerprint
        assert info.ca_pem == running_hub.ca_pem.read_text()
        tokens = auth_pb2_grpc.AuthStub(channel).Login(
            auth_pb2.LoginRequest(
                username=running_hub.admin_username, password=running_hub.admin_password
            ),
            timeout=10,
        )
        assert tokens.principal.system_admin
        listed = workspaces_pb2_grpc.WorkspacesStub(channel).ListWorkspaces(
            workspaces_pb2.ListWorkspacesRequest(),
            metadata=[("authorization", f"Bearer {tokens.access_token}")],
            timeout=10,
        )
        assert [w.name for w in listed.workspaces] == ["default"]
    with grpc.insecure_channel(running_hub.address) as channel, pytest.raises(grpc.RpcError) as err:
        auth_pb2_grpc.AuthStub(channel).GetHubInfo(auth_pb2.GetHubInfoRequest(), timeout=3)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    secrets_ = ["tls/ca.key", "tls/server.key", "keys/token-signing.key", "keys/blobs.keyring"]
    # The serving CA (agents' TLS certificates) lives beside the hub CA.
    secrets_.append("tls/serving-ca.key")
    before = {}
    for rel in [*secrets_, "tls/ca.pem", "hub.json"]:
        path = running_hub.data_dir / rel
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, rel
        before[rel] = path.read_bytes()
    out = subprocess.run(
        modelfleet_command("hub", "init", "--data-dir", str(running_hub.data_dir)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "already initialised" in out.stdout
    assert "password" not in out.stdout
    for rel, data in before.items():
        assert (running_hub.data_dir / rel).read_bytes() == data, rel


def test_sigterm_stops_gracefully(running_hub: RunningHub) -> None:
    os.kill(running_hub.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pid, status = os.waitpid(running_hub.pid, os.WNOHANG)
        if pid:
            assert os.waitstatus_to_exitcode(status) == 0
            assert not (running_hub.data_dir.parent / "hub-ready.json").exists()
            return
        time.sleep(0.05)
    pytest.fail("hub did not stop after SIGTERM")
