"""Hub-issued serving certificates: the join token names the hosts, the hub's serving CA
(not the hub CA people pin) signs them, and `modelfleet-agent run --tls-from-hub` serves REST
and gRPC with them; renewal repeats exactly the granted names."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import grpc
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from modelfleet.agent.node.enrol._identity import csr_pem, new_key
from modelfleet.client import InvalidArgument
from modelfleet.proto.inference import grpc_predict_v2_pb2 as oip
from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from modelfleet.proto.v1 import fleet_pb2, fleet_pb2_grpc
from tests.fleet.fleethelp import Admin, AgentProcess, HubProcess, join, wait_for

NAMES = ["127.0.0.1", "agent-1.example.test"]
SETTLE_S = 30.0


def _token(admin: Admin, names: list[str]) -> str:
    request = fleet_pb2.CreateJoinTokenRequest(environment="production", serving_names=names)
    answer = admin.call("Fleet.CreateJoinToken", admin.fleet.CreateJoinToken, request)
    return str(answer.token)


def _enrol(hub: HubProcess, admin: Admin, data_dir: Path, names: list[str]) -> None:
    done = join(hub, _token(admin, names), data_dir)
    assert done.returncode == 0, done.stderr


def _https(port: int, cafile: Path) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(cafile))
    return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)


def _model_ready(port: int, roots: bytes, model: str) -> bool:
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        try:
            return stub.ModelReady(oip.ModelReadyRequest(name=model), timeout=10).ready
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise


def _names_of(pem: bytes) -> tuple[list[str], list[str]]:
    cert = x509.load_pem_x509_certificate(pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return sorted([*san.get_values_for_type(x509.DNSName), *ips]), san.get_values_for_type(
        x509.UniformResourceIdentifier
    )


def _serving_cert(data_dir: Path) -> bytes:
    data = (data_dir / "serving.pem").read_bytes()
    return data[data.index(b"-----BEGIN CERTIFICATE-----") :]


def test_agent_serves_tls_with_the_hub_issued_serving_certificate(
    hub: HubProcess, admin: Admin, tmp_path: Path
) -> None:
    data_dir = tmp_path / "tls-agent"
    _enrol(hub, admin, data_dir, NAMES)
    for name in ("serving.pem", "serving-ca.pem"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600
    serving_ca = data_dir / "serving-ca.pem"
    hub_ca = data_dir / "ca.pem"
    assert serving_ca.read_bytes() != hub_ca.read_bytes()
    names, uris = _names_of(_serving_cert(data_dir))
    assert names == sorted(NAMES)
    agent_id = orjson.loads((data_dir / "identity.json").read_bytes())["agent_id"]
    assert uris == [f"urn:modelfleet:agent:{agent_id}"]
    usage = x509.load_pem_x509_certificate(_serving_cert(data_dir)).extensions
    eku = usage.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]

    agent = AgentProcess(data_dir, extra=("--host", "127.0.0.1", "--tls-from-hub")).start()
    try:
        admin.deploy("fraud", "production", "credit", 1)
        roots = serving_ca.read_bytes()
        wait_for(lambda: _model_ready(agent.grpc_port, roots, "fraud"), SETTLE_S, "fraud ready")

        conn = _https(agent.http_port, serving_ca)
        conn.request(
            "POST",
            "/v2/models/fraud/infer",
            orjson.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 20],
                                      "data": [0.5] * 20}]}),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        response = conn.getresponse()
        assert response.status == 200
        assert orjson.loads(response.read())["model_name"] == "fraud"
        conn.close()

        # The hub CA, which desktop and CLI clients pin, does not vouch for agents' ports.
        with pytest.raises(ssl.SSLCertVerificationError):
            _https(agent.http_port, hub_ca).request("GET", "/v2/health/live")
        with pytest.raises(grpc.RpcError) as info:
            _model_ready(agent.grpc_port, hub_ca.read_bytes(), "fraud")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        agent.stop()


def _agent_channel(hub: HubProcess, data_dir: Path) -> grpc.Channel:
    data = (data_dir / "agent.pem").read_bytes()
    split = data.index(b"-----BEGIN CERTIFICATE-----")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(data_dir / "ca.pem").read_bytes(),
        private_key=data[:split],
        certificate_chain=data[split:],
    )
    return grpc.secure_channel(f"127.0.0.1:{hub.agent_port}", credentials)


def _forged(agent_id: str) -> str:
    """A serving certificate for names the token did not grant, from a CA the hub does not
    know, naming the agent."""
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forger")])
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
        x509.DNSName("hub.example.test"),
        x509.UniformResourceIdentifier(f"urn:modelfleet:agent:{agent_id}"),
    ]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_renewal_repeats_exactly_the_granted_names(
    hub: HubProcess, admin: Admin, tmp_path: Path
) -> None:
    data_dir = tmp_path / "renewing"
    _enrol(hub, admin, data_dir, NAMES)
    agent_id = orjson.loads((data_dir / "identity.json").read_bytes())["agent_id"]
    current = _serving_cert(data_dir).decode()
    stub = fleet_pb2_grpc.EnrollmentStub
    with _agent_channel(hub, data_dir) as channel:
        renewed = stub(channel).RenewCertificate(
            fleet_pb2.RenewCertificateRequest(
                csr_pem=csr_pem(new_key(), "h"),
                serving_csr_pem=csr_pem(new_key(), "h"),
                serving_certificate_pem=current,
            ),
            timeout=10,
        )
        assert renewed.certificate_pem.startswith("-----BEGIN CERTIFICATE")
        assert renewed.serving_certificate_pem != current
        names, _ = _names_of(renewed.serving_certificate_pem.encode())
        assert names == sorted(NAMES)
        assert renewed.serving_ca_pem.encode() == (data_dir / "serving-ca.pem").read_bytes()

        # A certificate the serving CA did not sign grants nothing: no serving certificate.
        forged = stub(channel).RenewCertificate(
            fleet_pb2.RenewCertificateRequest(
                csr_pem=csr_pem(new_key(), "h"),
                serving_csr_pem=csr_pem(new_key(), "h"),
                serving_certificate_pem=_forged(agent_id),
            ),
            timeout=10,
        )
        assert forged.certificate_pem and not forged.serving_certificate_pem
        with pytest.raises(grpc.RpcError) as info:
            stub(channel).RenewCertificate(
                fleet_pb2.RenewCertificateRequest(
                    csr_pem=csr_pem(new_key(), "h"), serving_csr_pem="not a csr"
                ),
                timeout=10,
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "serving_csr_pem" in (info.value.details() or "")

    # Another agent cannot renew with the first one's serving certificate.
    other_dir = tmp_path / "other"
    _enrol(hub, admin, other_dir, ["127.0.0.1"])
    with _agent_channel(hub, other_dir) as channel:
        borrowed = stub(channel).RenewCertificate(
            fleet_pb2.RenewCertificateRequest(
                csr_pem=csr_pem(new_key(), "h"),
                serving_csr_pem=csr_pem(new_key(), "h"),
                serving_certificate_pem=current,
            ),
            timeout=10,
        )
        assert not borrowed.serving_certificate_pem


def test_tls_from_hub_refuses_without_serving_names(
    hub: HubProcess, admin: Admin, tmp_path: Path
) -> None:
    data_dir = tmp_path / "plain"
    _enrol(hub, admin, data_dir, [])
    assert not (data_dir / "serving.pem").exists()
    done = subprocess.run(
        [*_agent_command(), "run", "--data-dir", str(data_dir), "--tls-from-hub",
         "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no hub-issued serving certificate" in done.stderr
    assert "--serving-name" in done.stderr


def _agent_command() -> list[str]:
    import sys

    return [sys.executable, "-c", "import sys; from modelfleet.agent.cli import main; "
            "sys.exit(main())"]  # fmt: skip


BAD_NAMES = ["*.x", "", "a b", "*", "-a.example", "a..b", "0.0.0.0", "x" * 254, "1.2.3"]


def test_join_token_refuses_bad_serving_names(admin: Admin) -> None:
    for bad in BAD_NAMES:
        # The client maps INVALID_ARGUMENT to InvalidArgument, with the field the hub named.
        with pytest.raises(InvalidArgument) as info:
            _token(admin, ["127.0.0.1", bad])
        assert info.value.field == "serving_names", bad
        assert str(info.value).startswith("serving_names: expected"), bad
    with pytest.raises(InvalidArgument, match="at most 16 names"):
        _token(admin, [f"h{i}.example.test" for i in range(17)])


def test_join_token_serving_names_through_the_client(admin: Admin) -> None:
    token = admin.client.create_join_token(
        "production", serving_names=["Agent-1.Example.TEST", "::1"]
    )
    assert token.token_id
    with pytest.raises(InvalidArgument, match="wildcards are not issued"):
        admin.client.create_join_token("production", serving_names=["*.example.test"])


def _served_serial(port: int, cafile: Path) -> int:
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_renewal_replaces_the_served_certificate(hub: HubProcess, tmp_path: Path) -> None:
    # Three-minute certificates (valid from 5 minutes back): renewal is due about 20 s after
    # the join.
    hub.stop()
    hub.start(agent_certificate_hours="0.05")
    admin = hub.admin()
    data_dir = tmp_path / "short-lived"
    _enrol(hub, admin, data_dir, ["127.0.0.1"])
    admin.client.close()
    serving_ca = data_dir / "serving-ca.pem"
    joined = x509.load_pem_x509_certificate(_serving_cert(data_dir)).serial_number
    agent = AgentProcess(data_dir, extra=("--host", "127.0.0.1", "--tls-from-hub")).start()
    try:
        assert _served_serial(agent.http_port, serving_ca) == joined

        def renewed() -> int:
            serial = x509.load_pem_x509_certificate(_serving_cert(data_dir)).serial_number
            return serial if serial != joined else 0

        wait_for(renewed, 120, "the serving certificate to be renewed", every=0.5)
        names, _ = _names_of(_serving_cert(data_dir))
        assert names == ["127.0.0.1"]
        # The running agent serves a renewed certificate (verified by the serving CA) without
        # a restart; renewals go on, so it may already be a newer one than `renewed` saw.
        assert _served_serial(agent.http_port, serving_ca) != joined
        assert agent.process is not None and agent.process.poll() is None
    finally:
        agent.stop()
