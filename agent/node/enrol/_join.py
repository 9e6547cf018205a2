"""`modelfleet-agent join`: pin the hub by the token's CA fingerprint, send a CSR, keep the cert."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
from cryptography import x509

from modelfleet._version import __version__
from modelfleet.agent.node.enrol._identity import DataDir, Enrolment, csr_pem, hostname, new_key
from modelfleet.client import ModelfleetError, fingerprint_pem, root_certificates
from modelfleet.fleet import AgentIdentity, IdentityError, JoinTokenError
from modelfleet.fleet.endpoints import agent_target
from modelfleet.fleet.jointoken import decode
from modelfleet.proto.v1 import fleet_pb2, fleet_pb2_grpc

log = logging.getLogger(__name__)
JOIN_TIMEOUT_S = 30.0


class EnrolError(RuntimeError):
    """Joining failed; the message says why and what to do."""


def join(hub: str, token_text: str, data_dir: Path, timeout: float = JOIN_TIMEOUT_S) -> Enrolment:
    """Enrol this agent with the hub at `hub` (or the token's hint) and store its identity."""
    try:
        token = decode(token_text)
    except JoinTokenError as exc:
        raise EnrolError(f"--token: {exc}") from None
    hub = hub or token.hub
    if not hub:
        raise EnrolError("--hub: the token carries no hub address; pass --hub HOST:PORT")
    folder = DataDir(data_dir)
    if folder.is_enrolled():
        raise EnrolError(
            f"--data-dir: {data_dir} already holds agent {folder.load().agent_id}; "
            "use an empty data dir to enrol again"
        )
    try:
        roots = root_certificates(hub, token.ca_fingerprint, cache_dir=data_dir / "hub-ca")
    except ModelfleetError as exc:
        raise EnrolError(f"cannot trust the hub at {hub}: {exc}") from None
    key = new_key()
    serving_key = new_key()
    request = fleet_pb2.JoinRequest(
        token=token_text.strip(),
        csr_pem=csr_pem(key, hostname()),
        hostname=hostname(),
        agent_version=__version__,
        serving_csr_pem=csr_pem(serving_key, hostname()),
    )
    with grpc.secure_channel(hub, grpc.ssl_channel_credentials(root_certificates=roots)) as ch:
        try:
            response = fleet_pb2_grpc.EnrollmentStub(ch).Join(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise EnrolError(_join_refused(hub, exc)) from None
    if fingerprint_pem(response.ca_pem.encode()) != token.ca_fingerprint:
        raise EnrolError("the hub answered with a CA that does not match the token's fingerprint")
    identity = _identity_of(response.certificate_pem)
    if identity.agent_id != response.agent_id:
        raise EnrolError("the hub's certificate names another agent than its answer")
    target = agent_target(hub, response.agent_port) if response.agent_port else hub
    enrolment = Enrolment(identity, hub, target, response.agent_port)
    if response.serving_certificate_pem:
        # Before the identity file: a data dir is enrolled only once everything is there.
        folder.ensure()
        folder.save_serving(serving_key, response.serving_certificate_pem, response.serving_ca_pem)
    folder.save(
        enrolment, key, response.certificate_pem, response.ca_pem, response.manifest_public_key_pem
    )
    log.info(
        "[Enrollment.Join] agent=%s workspace=%s environment=%s",
        identity.agent_id,
        identity.workspace_id,
        identity.environment,
    )
    return enrolment


def _identity_of(certificate_pem: str) -> AgentIdentity:
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = names.get_values_for_type(x509.UniformResourceIdentifier)
        return AgentIdentity.from_san_uris(uris)
    except (ValueError, x509.ExtensionNotFound, IdentityError) as exc:
        raise EnrolError(f"the hub's certificate does not carry an agent identity: {exc}") from None


def _join_refused(hub: str, exc: grpc.RpcError) -> str:
    # Sync channel errors are also grpc.Call objects, which the stubs cannot express.
    code: grpc.StatusCode | None = getattr(exc, "code", lambda: None)()
    detail: str = getattr(exc, "details", lambda: str(exc))()
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"the hub refused the join token (used, expired or not valid): {detail}"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return f"cannot reach the hub at {hub}: {detail}"
    return f"join failed ({code.name if code else 'error'}): {detail}"
