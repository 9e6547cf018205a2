"""Fleet (people manage agents) and Enrollment (agents join and renew) servicers."""

from __future__ import annotations

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import new_id, utcnow
from modelfleet.agent.hub.db.fleet_models import Agent
from modelfleet.agent.hub.errors import Context, FailedPrecondition, InvalidArgument, NotFound
from modelfleet.agent.hub.fleet import certs, enrolment
from modelfleet.agent.hub.fleet.convert import agent_info
from modelfleet.agent.hub.fleet.runtime import FleetRuntime
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.fleet.identity import AgentIdentity, check_environment, check_label
from modelfleet.fleet.selectors import matches, parse_labels
from modelfleet.proto.v1 import fleet_pb2, fleet_pb2_grpc


def _environment(value: str) -> str:
    try:
        check_environment(value)
    except ValueError as exc:
        raise InvalidArgument("environment", "an environment name", got=str(exc)) from None
    return value


def _labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        try:
            check_label(key, value)
        except ValueError as exc:
            raise InvalidArgument("labels", "valid key=value labels", got=str(exc)) from None
    return dict(labels)


def _find_agent(s: Session, call: Call, agent_id: str) -> Agent:
    row = s.get(Agent, agent_id) if agent_id else None
    if row is None or row.workspace_id != call.ws.id:
        raise NotFound(f"id: no agent {agent_id[:64]!r} in this workspace")
    return row


class FleetServicer(fleet_pb2_grpc.FleetServicer):
    def __init__(self, fleet: FleetRuntime) -> None:
        self._fleet = fleet
        self._hub = fleet.hub

    async def CreateJoinToken(
        self, request: fleet_pb2.CreateJoinTokenRequest, context: Context
    ) -> fleet_pb2.CreateJoinTokenResponse:
        call = current_call()
        env = _environment(request.environment)
        labels = _labels(dict(request.labels))
        ttl = request.ttl_seconds or enrolment.DEFAULT_TTL
        if ttl > enrolment.MAX_TTL:
            raise InvalidArgument("ttl_seconds", f"at most {enrolment.MAX_TTL} (7 days)", str(ttl))
        names = certs.serving_names(list(request.serving_names))

        def create(s: Session) -> fleet_pb2.CreateJoinTokenResponse:
            token, row = enrolment.create_token(
                s,
                workspace_id=call.ws.id,
                environment=env,
                labels=labels,
                ttl_seconds=ttl,
                created_by=call.user.username,
                ca_fingerprint=self._hub.ca_fingerprint,
                hub_hint=self._fleet.hub_hint,
                serving_names=names,
            )
            details: dict[str, object] = {"environment": env, "labels": labels, "ttl_seconds": ttl}
            if names:
                details["serving_names"] = names
            record(s, call, target=f"join-token:{row.id}", details=details)
            return fleet_pb2.CreateJoinTokenResponse(
                token=token.encode(), token_id=row.id, expires_at=timestamp(row.expires_at)
            )

        return await self._hub.db.write(create)

    async def ListAgents(
        self, request: fleet_pb2.ListAgentsRequest, context: Context
    ) -> fleet_pb2.ListAgentsResponse:
        call = current_call()
        try:
            wanted = parse_labels([request.selector])
        except ValueError as exc:
            raise InvalidArgument("selector", "key=value terms", got=str(exc)) from None

        def list_agents(s: Session) -> list[Agent]:
            query = select(Agent).where(Agent.workspace_id == call.ws.id)
            if request.environment:
                query = query.where(Agent.environment == request.environment)
            if not request.include_revoked:
                query = query.where(Agent.revoked_at.is_(None))
            return list(s.scalars(query.order_by(Agent.enrolled_at, Agent.id)))

        rows = await self._hub.db.read(list_agents)
        book = self._fleet.heartbeats
        return fleet_pb2.ListAgentsResponse(
            agents=[
                agent_info(r, book) for r in rows if matches(wanted, orjson.loads(r.labels_json))
            ]
        )

    async def GetAgent(
        self, request: fleet_pb2.GetAgentRequest, context: Context
    ) -> fleet_pb2.AgentInfo:
        call = current_call()
        row = await self._hub.db.read(lambda s: _find_agent(s, call, request.id))
        return agent_info(row, self._fleet.heartbeats)

    async def RevokeAgent(
        self, request: fleet_pb2.RevokeAgentRequest, context: Context
    ) -> fleet_pb2.AgentInfo:
        call = current_call()
        call.target = f"agent:{request.id[:64]}"

        def revoke(s: Session) -> Agent:
            row = _find_agent(s, call, request.id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            record(s, call, details={"hostname": row.hostname, "environment": row.environment})
            return row

        row = await self._hub.db.write(revoke)
        self._fleet.revoke(row.id)
        return agent_info(row, self._fleet.heartbeats)


class EnrollmentServicer(fleet_pb2_grpc.EnrollmentServicer):
    def __init__(self, fleet: FleetRuntime) -> None:
        self._fleet = fleet
        self._hub = fleet.hub

    async def Join(
        self, request: fleet_pb2.JoinRequest, context: Context
    ) -> fleet_pb2.JoinResponse:
        call = current_call()
        csr = certs.load_csr(request.csr_pem)
        serving_csr = (
            certs.load_csr(request.serving_csr_pem, "serving_csr_pem")
            if request.serving_csr_pem
            else None
        )
        if self._hub.ca_key is None:
            raise FailedPrecondition("this hub has no CA key to sign agent certificates")
        ca_key = self._hub.ca_key
        hours = self._hub.settings.agent_certificate_hours

        def join(s: Session) -> fleet_pb2.JoinResponse:
            token = enrolment.consume_token(s, request.token, self._hub.ca_fingerprint)
            labels, names = enrolment.token_grant(token)
            identity = AgentIdentity(new_id(), token.workspace_id, token.environment, labels)
            cert_pem, not_after = certs.issue(ca_key, self._hub.ca_pem, csr, identity, hours)
            serving_pem = self._serving_certificate(serving_csr, identity.agent_id, names)
            agent = enrolment.enrol(
                s,
                token,
                identity,
                hostname=request.hostname[:255],
                agent_version=request.agent_version[:64],
                certificate_expires_at=not_after,
            )
            record(
                s,
                call,
                target=f"agent:{agent.id}",
                workspace_id=agent.workspace_id,
                actor=("agent", agent.id, agent.hostname[:128]),
                details={
                    "token_id": token.id,
                    "environment": agent.environment,
                    "serving_names": names if serving_pem else [],
                },
            )
            return fleet_pb2.JoinResponse(
                agent_id=agent.id,
                certificate_pem=cert_pem,
                ca_pem=self._hub.ca_pem.decode(),
                workspace_id=agent.workspace_id,
                environment=agent.environment,
                labels=identity.labels,
                manifest_public_key_pem=self._manifest_key_pem(),
                agent_port=self._fleet.agent_port,
                serving_certificate_pem=serving_pem,
                serving_ca_pem=self._hub.serving_ca_pem.decode() if serving_pem else "",
            )

        try:
            return await self._hub.db.write(join)
        except enrolment.TokenRefused as exc:
            await self._audit_refusal(call, exc, request.hostname)
            raise

    async def _audit_refusal(
        self, call: Call, refused: enrolment.TokenRefused, hostname: str
    ) -> None:
        def write(s: Session) -> None:
            record(
                s,
                call,
                outcome="denied",
                target=f"join-token:{refused.token_id}",
                workspace_id=refused.workspace_id,
                details={"reason": refused.why, "hostname": hostname[:255]},
            )

        await self._hub.db.write(write)

    async def RenewCertificate(
        self, request: fleet_pb2.RenewCertificateRequest, context: Context
    ) -> fleet_pb2.RenewCertificateResponse:
        call = current_call()
        agent_id = call.user.user_id
        call.target = f"agent:{agent_id}"
        csr = certs.load_csr(request.csr_pem)
        serving_csr = (
            certs.load_csr(request.serving_csr_pem, "serving_csr_pem")
            if request.serving_csr_pem
            else None
        )
        if self._hub.ca_key is None:
            raise FailedPrecondition("this hub has no CA key to sign agent certificates")
        ca_key = self._hub.ca_key
        hours = self._hub.settings.agent_certificate_hours
        # The names the join token granted, as the serving CA's signature on the agent's
        # current serving certificate records them: never names the agent asks for.
        names = (
            certs.granted_serving_names(
                self._hub.serving_ca_pem, request.serving_certificate_pem, agent_id
            )
            if serving_csr is not None and self._hub.serving_ca_pem
            else []
        )

        def renew(s: Session) -> fleet_pb2.RenewCertificateResponse:
            agent = s.get_one(Agent, agent_id)
            identity = AgentIdentity(
                agent.id, agent.workspace_id, agent.environment, orjson.loads(agent.labels_json)
            )
            cert_pem, not_after = certs.issue(ca_key, self._hub.ca_pem, csr, identity, hours)
            serving_pem = self._serving_certificate(serving_csr, agent.id, names)
            agent.certificate_expires_at = not_after
            details: dict[str, object] = {"expires_at": not_after.isoformat()}
            if serving_pem:
                details["serving_names"] = names
            record(s, call, details=details)
            return fleet_pb2.RenewCertificateResponse(
                certificate_pem=cert_pem,
                serving_certificate_pem=serving_pem,
                serving_ca_pem=self._hub.serving_ca_pem.decode() if serving_pem else "",
            )

        return await self._hub.db.write(renew)

    def _serving_certificate(
        self, csr: x509.CertificateSigningRequest | None, agent_id: str, names: list[str]
    ) -> str:
        """A serving certificate for exactly `names`, or "" (no names, CSR or serving CA)."""
        key = self._hub.serving_ca_key
        if csr is None or not names or key is None:
            return ""
        hours = self._hub.settings.agent_certificate_hours
        return certs.issue_serving(key, self._hub.serving_ca_pem, csr, agent_id, names, hours)

    def _manifest_key_pem(self) -> str:
        key = self._hub.manifest_key
        if key is None:
            return ""
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
