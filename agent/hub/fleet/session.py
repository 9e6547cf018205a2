"""AgentSession.Connect: Hello, desired state pushed on change, heartbeats, reports, outbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.db import utcnow
from modelfleet.agent.hub.db.fleet_models import Agent, AgentDeploymentState, DeploymentRow
from modelfleet.agent.hub.errors import Context, HubError, InvalidArgument
from modelfleet.agent.hub.fleet import outbox
from modelfleet.agent.hub.fleet.connections import AgentConnection
from modelfleet.agent.hub.fleet.runtime import FleetRuntime
from modelfleet.fleet.identity import AgentIdentity
from modelfleet.proto.v1 import fleet_pb2, fleet_pb2_grpc

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 30.0
# Worst first: a deployment's state on an agent is that of its least healthy version.
_STATE_ORDER = ("failed", "pulling", "loading", "draining", "ready")


class AgentSessionServicer(fleet_pb2_grpc.AgentSessionServicer):
    def __init__(self, fleet: FleetRuntime) -> None:
        self._fleet = fleet
        self._db = fleet.hub.db

    async def Connect(
        self, request_iterator: AsyncIterator[fleet_pb2.AgentMessage], context: Context
    ) -> AsyncIterator[fleet_pb2.HubMessage]:
        call = current_call()
        agent_id = call.user.user_id
        call.target = f"agent:{agent_id}"
        identity = await self._identity(agent_id)
        try:
            first = await asyncio.wait_for(anext(request_iterator), HELLO_TIMEOUT)
        except (StopAsyncIteration, TimeoutError):
            raise InvalidArgument("hello", "a Hello as the first message") from None
        if first.WhichOneof("body") != "hello":
            raise InvalidArgument("hello", "a Hello as the first message")
        await self._db.write(lambda s: _remember_hello(s, agent_id, first.hello))
        fleet = self._fleet
        fleet.ensure_started()
        conn, replaced = fleet.connections.open(identity)
        if replaced is not None:
            replaced.end()
        fleet.heartbeats.seen(agent_id)
        reader = asyncio.create_task(self._read(request_iterator, conn, call.peer))
        log.info("[AgentSession.Connect] agent=%s env=%s connected", agent_id, identity.environment)
        try:
            await fleet.push(conn, force=True)
            while True:
                item = await conn.outgoing.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            reader.cancel()
            fleet.connections.close(conn)
            log.info("[AgentSession.Connect] agent=%s disconnected", agent_id)

    async def _identity(self, agent_id: str) -> AgentIdentity:
        # The database row, not the certificate, is the current truth about labels.
        row = await self._db.read(lambda s: s.get_one(Agent, agent_id))
        return AgentIdentity(
            row.id, row.workspace_id, row.environment, orjson.loads(row.labels_json)
        )

    async def _read(
        self,
        messages: AsyncIterator[fleet_pb2.AgentMessage],
        conn: AgentConnection,
        peer: str,
    ) -> None:
        agent_id = conn.identity.agent_id
        book = self._fleet.heartbeats
        try:
            async for message in messages:
                kind = message.WhichOneof("body")
                if kind == "heartbeat":
                    book.beat(agent_id, message.heartbeat)
                elif kind == "outbox":
                    batch = message.outbox
                    outbox.check_batch(batch)
                    committed = await self._db.write(
                        partial(outbox.ingest, agent_id=agent_id, batch=batch, source=peer)
                    )
                    conn.send(
                        fleet_pb2.HubMessage(ack=fleet_pb2.OutboxAck(committed_seq=committed))
                    )
                elif kind == "report":
                    book.seen(agent_id)
                    await self._db.write(
                        partial(_store_report, identity=conn.identity, report=message.report)
                    )
                elif kind == "hello":
                    book.seen(agent_id)
            conn.end()
        except HubError as exc:
            conn.end(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("[AgentSession.Connect] agent=%s: reading the stream failed", agent_id)
            conn.end(exc)


def _remember_hello(s: Session, agent_id: str, hello: fleet_pb2.Hello) -> None:
    agent = s.get_one(Agent, agent_id)
    agent.hostname = hello.hostname[:255] or agent.hostname
    agent.agent_version = hello.agent_version[:64] or agent.agent_version
    agent.http_url = hello.http_url[:512]
    agent.grpc_target = hello.grpc_target[:512]
    agent.last_seen = datetime.now(UTC)


def _store_report(s: Session, identity: AgentIdentity, report: fleet_pb2.DeploymentReport) -> None:
    by_name: dict[str, list[fleet_pb2.LoadedVersion]] = {}
    for version in report.versions:
        by_name.setdefault(version.deployment, []).append(version)
    if not by_name:
        return
    rows = s.execute(
        select(DeploymentRow.name, DeploymentRow.id).where(
            DeploymentRow.workspace_id == identity.workspace_id,
            DeploymentRow.environment == identity.environment,
            DeploymentRow.name.in_(list(by_name)),
        )
    )
    now = utcnow()
    for name, deployment_id in rows:
        versions = by_name[name]
        worst = min(
            versions,
            key=lambda v: _STATE_ORDER.index(v.state) if v.state in _STATE_ORDER else 1,
        )
        key = (identity.agent_id, deployment_id)
        row = s.get(AgentDeploymentState, key)
        if row is None:
            row = AgentDeploymentState(agent_id=identity.agent_id, deployment_id=deployment_id)
            s.add(row)
        row.revision = report.desired_revision
        row.state = worst.state[:16] or "pending"
        row.reason = worst.reason[:1024]
        row.updated_at = now
