"""The fleet's in-memory side of one hub replica: streams, heartbeats, desired-state cache."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from modelfleet.agent.hub.errors import Unauthenticated
from modelfleet.agent.hub.fleet.connections import AgentConnection, ConnectionRegistry
from modelfleet.agent.hub.fleet.desired import DesiredStates, generations
from modelfleet.agent.hub.fleet.directory import AgentDirectory
from modelfleet.agent.hub.fleet.heartbeats import HeartbeatBook
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import fleet_pb2

log = logging.getLogger(__name__)


class FleetRuntime:
    def __init__(self, hub: HubState) -> None:
        self.hub = hub
        self.directory = AgentDirectory(hub.db)
        self.heartbeats = HeartbeatBook(hub.db, hub.settings.agent_offline_after)
        self.connections = ConnectionRegistry()
        self.desired = DesiredStates(hub.db)
        self._task: asyncio.Task[None] | None = None
        # What Join tells agents: the address hint in join tokens and the mTLS agent port.
        self.hub_hint = ""
        self.agent_port = 0

    def ensure_started(self) -> None:
        """Start the periodic flush on the serving loop (first stream opens it)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.heartbeats.flush()

    async def push(self, conn: AgentConnection, *, force: bool = False) -> None:
        ident = conn.identity
        state = await self.desired.get(ident.workspace_id, ident.environment)
        if not force and state.generation == conn.pushed_revision:
            return
        desired = state.for_labels(ident.labels)
        content = b"".join(d.SerializeToString(deterministic=True) for d in desired.deployments)
        conn.pushed_revision = state.generation
        if force or content != conn.pushed_content:
            conn.pushed_content = content
            conn.send(fleet_pb2.HubMessage(desired=desired))

    async def deployments_changed(self, workspace_id: str, environment: str) -> None:
        """A deployment of (workspace, environment) changed here: push to its agents now."""
        self.desired.invalidate(workspace_id, environment)
        for conn in self.connections.in_environment(workspace_id, environment):
            await self.push(conn)

    def revoke(self, agent_id: str) -> None:
        """The agent is cut off: its open stream ends with UNAUTHENTICATED, now."""
        self.directory.revoked(agent_id)
        self.heartbeats.forget(agent_id)
        conn = self.connections.get(agent_id)
        if conn is not None:
            conn.end(Unauthenticated(f"agent {agent_id} was revoked"))

    async def _run(self) -> None:
        interval = self.hub.settings.heartbeat_flush_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeats.flush()
                await self._follow_other_replicas()
            except Exception:
                log.exception("[Fleet] periodic flush failed; retrying next interval")

    async def _follow_other_replicas(self) -> None:
        """Deployment changes made through another replica reach this one's agents."""
        keys = self.connections.environments()
        if not keys:
            return
        current = await self.hub.db.read(lambda s: generations(s, keys))
        for (ws, env), gen in current.items():
            if gen != self.desired.cached_generation(ws, env):
                await self.deployments_changed(ws, env)
