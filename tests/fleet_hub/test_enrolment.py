"""Enrolment: join tokens (single use, expiry, tampering), certificates, mTLS principals, revoke."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import grpc
import pytest
from cryptography import x509
from sqlalchemy import func, select, update

from modelfleet.agent.hub.db import AuditEvent, utcnow
from modelfleet.agent.hub.db.fleet_models import JoinTokenRow
from modelfleet.fleet import jointoken
from modelfleet.proto.v1 import artifacts_pb2, artifacts_pb2_grpc, fleet_pb2, fleet_pb2_grpc
from tests.fleet_hub.agentclient import connect, join, make_csr
from tests.fleet_hub.conftest import FleetHub


def _refusals(hub: FleetHub) -> list[str]:
    with hub.state.db.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.details_json).where(
                AuditEvent.action == "Enrollment.Join", AuditEvent.outcome == "denied"
            )
        )
        return [json.loads(r[0])["reason"] for r in rows]


def _expect_refused(hub: FleetHub, token: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        join(hub.address, hub.ca_pem, token)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "join token refused" in err.value.details()


def test_join_issues_a_certificate_naming_the_identity(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    token = hub.join_token("production", region="eu", gpu="false")
    decoded = jointoken.decode(token)
    assert decoded.ca_fingerprint == hub.state.ca_fingerprint and decoded.hub == hub.address
    with hub.state.db.engine.connect() as conn:
        stored = conn.execute(select(JoinTokenRow.secret_hash)).scalar_one()
    assert stored == decoded.secret_hash and decoded.secret not in stored

    agent = join(hub.address, hub.ca_pem, token, hostname="gpu-7")
    cert = x509.load_pem_x509_certificate(agent.cert_pem)
    uris = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.UniformResourceIdentifier)
    ws = agent.joined.workspace_id
    assert sorted(uris) == sorted(
        [
            f"urn:modelfleet:agent:{agent.agent_id}",
            f"urn:modelfleet:workspace:{ws}",
            "urn:modelfleet:environment:production",
            "urn:modelfleet:label:gpu=false",
            "urn:modelfleet:label:region=eu",
        ]
    )
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(hours=23) < lifetime <= timedelta(hours=24, minutes=6)
    assert agent.joined.manifest_public_key_pem.startswith("-----BEGIN PUBLIC KEY")
    listed = hub.fleet.ListAgents(
        fleet_pb2.ListAgentsRequest(selector="region=eu"), metadata=hub.md()
    )
    assert [(a.id, a.hostname, a.environment) for a in listed.agents] == [
        (agent.agent_id, "gpu-7", "production")
    ]
    assert not hub.fleet.ListAgents(
        fleet_pb2.ListAgentsRequest(selector="region=us"), metadata=hub.md()
    ).agents


def test_reused_expired_and_tampered_tokens_are_refused_alike_and_audited(
    fleet_hub: FleetHub,
) -> None:
    hub = fleet_hub
    used = hub.join_token()
    join(hub.address, hub.ca_pem, used)
    _expect_refused(hub, used)

    expired = hub.join_token()
    with hub.state.db.engine.begin() as conn:
        conn.execute(
            update(JoinTokenRow)
            .where(JoinTokenRow.id == jointoken.decode(expired).token_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _expect_refused(hub, expired)

    original = jointoken.decode(hub.join_token())
    forged_secret = jointoken.JoinToken.generate(original.token_id, original.ca_fingerprint)
    _expect_refused(hub, forged_secret.encode())
    body = json.loads(base64.urlsafe_b64decode(original.encode()[6:] + "=="))
    body["ca"] = "sha256:" + "1" * 64
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    _expect_refused(hub, "mfjt1_" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    _expect_refused(hub, "mfjt1_not-a-token")

    assert _refusals(hub) == [
        "already used",
        "expired",
        "secret or CA fingerprint does not match",
        "secret or CA fingerprint does not match",
        "malformed: join token: body is not base64url-encoded JSON",
    ]
    # The forged attempts did not burn the genuine token.
    join(hub.address, hub.ca_pem, original.encode())


def test_a_bad_csr_is_refused_without_using_the_token(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    token = hub.join_token()
    with (
        grpc.secure_channel(hub.address, grpc.ssl_channel_credentials(hub.ca_pem)) as channel,
        pytest.raises(grpc.RpcError) as err,
    ):
        fleet_pb2_grpc.EnrollmentStub(channel).Join(
            fleet_pb2.JoinRequest(token=token, csr_pem="not a csr"), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "csr_pem" in err.value.details()
    join(hub.address, hub.ca_pem, token)


def test_agent_principal_only_for_agent_methods(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    agent = hub.enrol()
    with agent.channel() as channel:
        # Agents may renew and read artifacts of their workspace (NOT_FOUND: none stored)...
        csr = make_csr()[1]
        renewed = fleet_pb2_grpc.EnrollmentStub(channel).RenewCertificate(
            fleet_pb2.RenewCertificateRequest(csr_pem=csr), timeout=10
        )
        assert renewed.certificate_pem.startswith("-----BEGIN CERTIFICATE")
        with pytest.raises(grpc.RpcError) as err:
            artifacts_pb2_grpc.ArtifactsStub(channel).StatArtifact(
                artifacts_pb2.StatArtifactRequest(sha256="0" * 64), timeout=10
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        # ...and nothing people do, whatever metadata they add.
        for call in (
            lambda: hub.fleet.__class__(channel).ListAgents(
                fleet_pb2.ListAgentsRequest(), metadata=hub.md(), timeout=10
            ),
            lambda: fleet_pb2_grpc.EnrollmentStub(channel).Join(
                fleet_pb2.JoinRequest(token=hub.join_token()), timeout=10
            ),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "not open to agents" in err.value.details()
    # People cannot call agent-only methods on their port.
    with pytest.raises(grpc.RpcError) as err:
        fleet_pb2_grpc.EnrollmentStub(hub.channel).RenewCertificate(
            fleet_pb2.RenewCertificateRequest(csr_pem=make_csr()[1]), metadata=hub.md(), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    session = connect(hub.channel)
    with pytest.raises(grpc.RpcError) as err:
        session.recv()
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A client without a hub-issued certificate does not get through the agent port at all.
    with grpc.secure_channel(agent.agent_target, grpc.ssl_channel_credentials(hub.ca_pem)) as ch:
        with pytest.raises(grpc.RpcError) as err:
            fleet_pb2_grpc.EnrollmentStub(ch).RenewCertificate(
                fleet_pb2.RenewCertificateRequest(csr_pem=make_csr()[1]), timeout=10
            )
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_revoke_cuts_an_open_stream_at_once(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    agent = hub.enrol()
    with agent.channel() as channel:
        session = connect(channel)
        assert session.recv().WhichOneof("body") == "desired"
        started = time.monotonic()
        revoked = hub.fleet.RevokeAgent(
            fleet_pb2.RevokeAgentRequest(id=agent.agent_id), metadata=hub.md()
        )
        assert revoked.state == "revoked"
        with pytest.raises(grpc.RpcError) as err:
            session.recv(timeout=5)
        assert time.monotonic() - started < 2
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as err:
            fleet_pb2_grpc.EnrollmentStub(channel).RenewCertificate(
                fleet_pb2.RenewCertificateRequest(csr_pem=make_csr()[1]), timeout=10
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with hub.state.db.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).where(
                AuditEvent.action == "Fleet.RevokeAgent",
                AuditEvent.target == f"agent:{agent.agent_id}",
            )
        ).scalar_one()
    assert count == 1
