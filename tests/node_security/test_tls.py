"""TLS on the agent's HTTP and gRPC ports, verified by real clients against the CA."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from modelfleet.agent.hub.fleet.certs import issue, issue_serving
from modelfleet.agent.node.access import TlsError, hub_serving_files
from modelfleet.agent.node.enrol._identity import csr_pem, key_pem, new_key
from modelfleet.fleet import AgentIdentity
from modelfleet.proto.inference import grpc_predict_v2_pb2 as oip
from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from tests.node_security.conftest import Spawn
from tests.node_security.pki import ThrowawayCa, cert_pem
from tests.node_security.pki import key_pem as server_key_pem
from tests.serving.agentproc import AGENT_COMMAND, Agent

INFER = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 20], "data": [0.1] * 20}]}


@pytest.fixture(scope="module")
def ca() -> ThrowawayCa:
    return ThrowawayCa()


@pytest.fixture(scope="module")
def tls_agent(
    models: Path, spawn: Spawn, ca: ThrowawayCa, tmp_path_factory: pytest.TempPathFactory
) -> Agent:
    cert, key = ca.write_server(tmp_path_factory.mktemp("tls"), ["localhost"], ["127.0.0.1"])
    return spawn(models, "--tls-cert", str(cert), "--tls-key", str(key))


def https(port: int, cafile: Path) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(cafile))
    return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)


def test_rest_over_tls_verified_by_the_ca(
    tls_agent: Agent, ca: ThrowawayCa, tmp_path: Path
) -> None:
    cafile = ca.write_ca(tmp_path / "ca.pem")
    conn = https(tls_agent.http_port, cafile)
    conn.request("GET", "/v2/health/ready")
    assert conn.getresponse().read() == b'{"ready":true}'
    conn.request(
        "POST",
        "/v2/models/credit-risk/infer",
        json.dumps(INFER),
        {"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["model_name"] == "credit-risk"
    conn.close()
    assert conn.sock is None


def test_rest_refuses_other_cas_and_plain_http(tls_agent: Agent, tmp_path: Path) -> None:
    other = ThrowawayCa().write_ca(tmp_path / "other.pem")
    conn = https(tls_agent.http_port, other)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/v2/health/live")
    plain = http.client.HTTPConnection("127.0.0.1", tls_agent.http_port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        plain.request("GET", "/v2/health/live")
        plain.getresponse()


def test_grpc_over_tls_verified_by_the_ca(tls_agent: Agent, ca: ThrowawayCa) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=cert_pem(ca.cert))
    with grpc.secure_channel(f"localhost:{tls_agent.grpc_port}", credentials) as channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(oip.ServerLiveRequest(), timeout=10).live
        tensor = oip.ModelInferRequest.InferInputTensor(
            name="input", datatype="FP32", shape=[1, 20],
            contents=oip.InferTensorContents(fp32_contents=[0.1] * 20),
        )  # fmt: skip
        reply = stub.ModelInfer(
            oip.ModelInferRequest(model_name="fraud", inputs=[tensor]), timeout=10
        )
        assert reply.model_name == "fraud"
    other = grpc.ssl_channel_credentials(root_certificates=cert_pem(ThrowawayCa().cert))
    with grpc.secure_channel(f"localhost:{tls_agent.grpc_port}", other) as channel:
        with pytest.raises(grpc.RpcError) as info:
            oip_grpc.GRPCInferenceServiceStub(channel).ServerLive(
                oip.ServerLiveRequest(), timeout=5
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(f"127.0.0.1:{tls_agent.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            oip_grpc.GRPCInferenceServiceStub(channel).ServerLive(
                oip.ServerLiveRequest(), timeout=5
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def _serve(models: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENT_COMMAND), "serve", "--models", str(models), "--http-port", "0",
         "--grpc-port", "0", "--control-token-file", str(tmp_path / "t"), *flags],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_mismatched_key_refused_at_start(models: Path, ca: ThrowawayCa, tmp_path: Path) -> None:
    cert, _ = ca.write_server(tmp_path / "a", ["localhost"], ["127.0.0.1"])
    _, other_key = ca.write_server(tmp_path / "b", ["localhost"], ["127.0.0.1"])
    done = _serve(models, tmp_path, "--tls-cert", str(cert), "--tls-key", str(other_key))
    assert done.returncode != 0
    assert f"cannot use certificate {cert} with key {other_key}" in done.stderr
    half = _serve(models, tmp_path, "--tls-cert", str(cert))
    assert half.returncode != 0 and "--tls-cert and --tls-key go together" in half.stderr


def _hub_issued(tmp_path: Path, ca: ThrowawayCa) -> Path:
    """agent.pem as `modelfleet-agent join` stores it: the hub's real issuing code."""
    key = new_key()
    identity = AgentIdentity("a1", "w1", "production", {"zone": "eu"})
    csr = x509.load_pem_x509_csr(csr_pem(key, "host1").encode())
    pem, _ = issue(ca.key, cert_pem(ca.cert), csr, identity, 24)
    path = tmp_path / "agent.pem"
    path.write_bytes(key_pem(key) + pem.encode())
    return path


def test_hub_issued_certificate_says_what_it_lacks(ca: ThrowawayCa, tmp_path: Path) -> None:
    path = _hub_issued(tmp_path, ca)
    with pytest.raises(TlsError) as info:
        hub_serving_files(path, ["127.0.0.1", "api.example.test"])
    message = str(info.value)
    assert "extended key usage serverAuth" in message
    assert "a DNS or IP subjectAltName for '127.0.0.1'" in message
    assert "'api.example.test'" in message
    assert "urn:modelfleet:agent:a1" in message


def test_run_tls_from_hub_refuses_an_unfit_certificate(ca: ThrowawayCa, tmp_path: Path) -> None:
    # serving.pem as `join` stores it, for a name the agent is not bound to.
    key = new_key()
    csr = x509.load_pem_x509_csr(csr_pem(key, "host1").encode())
    pem = issue_serving(ca.key, cert_pem(ca.cert), csr, "a1", ["agent1.example.test"], 24)
    (tmp_path / "serving.pem").write_bytes(key_pem(key) + pem.encode())
    done = subprocess.run(
        [str(AGENT_COMMAND), "run", "--data-dir", str(tmp_path), "--tls-from-hub",
         "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "serving.pem cannot serve TLS" in done.stderr
    assert "a DNS or IP subjectAltName for '127.0.0.1'" in done.stderr
    assert "--serving-name" in done.stderr


def _served_serial(port: int, cafile: Path, alpn: list[str] | None = None) -> int:
    context = ssl.create_default_context(cafile=str(cafile))
    if alpn:
        context.set_alpn_protocols(alpn)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _write_pair(path: Path, ca: ThrowawayCa) -> int:
    """Replace `path` (key + certificate, as serving.pem) in one rename; the new serial."""
    key, cert = ca.issue(["localhost"], ["127.0.0.1"])
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(server_key_pem(key) + cert_pem(cert))
    tmp.replace(path)
    return int(cert.serial_number)


def test_renewed_files_are_served_without_a_restart(
    models: Path, spawn: Spawn, ca: ThrowawayCa, tmp_path: Path
) -> None:
    pair = tmp_path / "pair.pem"
    first = _write_pair(pair, ca)
    agent = spawn(models, "--tls-cert", str(pair), "--tls-key", str(pair))
    cafile = ca.write_ca(tmp_path / "ca.pem")
    assert _served_serial(agent.http_port, cafile) == first
    assert _served_serial(agent.grpc_port, cafile, ["h2"]) == first
    second = _write_pair(pair, ca)
    assert _served_serial(agent.http_port, cafile) == second
    assert _served_serial(agent.grpc_port, cafile, ["h2"]) == second
    # A broken replacement keeps the last good pair serving.
    pair.write_bytes(b"not a certificate")
    assert _served_serial(agent.http_port, cafile) == second
    assert _served_serial(agent.grpc_port, cafile, ["h2"]) == second
    credentials = grpc.ssl_channel_credentials(root_certificates=cafile.read_bytes())
    with grpc.secure_channel(f"localhost:{agent.grpc_port}", credentials) as channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(oip.ServerLiveRequest(), timeout=10).live


def test_fitting_enrolled_certificate_is_reused(ca: ThrowawayCa, tmp_path: Path) -> None:
    key, cert = ca.issue(["agent1.example.test"], ["127.0.0.1"])
    path = tmp_path / "agent.pem"
    path.write_bytes(server_key_pem(key) + cert_pem(cert))
    files = hub_serving_files(path, ["127.0.0.1", "agent1.example.test"])
    assert files.cert == path == files.key
    files.ssl_context()
    with pytest.raises(TlsError, match="host name to check"):
        hub_serving_files(path, ["0.0.0.0"])
