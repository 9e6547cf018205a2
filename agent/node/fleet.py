"""`modelfleet-agent run`: an enrolled agent serving its deployments, with or without the hub.

Start-up order matters for durability: the desired state saved on disk is reconciled from
the local artifact cache *before* the agent reports ready, so a restarted agent (even after
`kill -9`) serves again without the hub; the hub session starts after and catches up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelfleet.agent.node.enrol import DataDir
from modelfleet.agent.node.hubsession import HubSession
from modelfleet.agent.node.monitor import DriftForwarder
from modelfleet.agent.node.reconcile import ArtifactCache, Reconciler, desired_from_bytes
from modelfleet.agent.node.reconcile._artifacts import DEFAULT_CAP_BYTES
from modelfleet.agent.node.reconcile._reconciler import DEFAULT_GRACE_S
from modelfleet.agent.node.rollups import DEFAULT_WINDOW_S, RollupCollector
from modelfleet.agent.node.server import Agent
from modelfleet.agent.node.state import Outbox, StateStore
from modelfleet.agent.node.state._store import DEFAULT_ROLLUP_CAP

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """What `run` adds to the serving settings."""

    data_dir: Path
    heartbeat_s: float = 5.0
    rollup_window_s: int = DEFAULT_WINDOW_S
    rollup_cap: int = DEFAULT_ROLLUP_CAP
    artifact_cap_bytes: int = DEFAULT_CAP_BYTES
    grace_s: float = DEFAULT_GRACE_S


class FleetExtension:
    """Reconciler, hub session and roll-ups inside an Agent (see `AgentExtension`)."""

    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings
        self.folder = DataDir(settings.data_dir)
        self.enrolment = self.folder.load()
        self.store: StateStore | None = None
        self.reconciler: Reconciler | None = None
        self.session: HubSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, agent: Agent) -> dict[str, Any]:
        s = self.settings
        store = self.store = await asyncio.to_thread(StateStore, self.folder.state_db, s.rollup_cap)
        outbox = Outbox(store)
        reconciler = self.reconciler = Reconciler(
            agent.manager,
            ArtifactCache(self.folder.artifacts, s.artifact_cap_bytes),
            self.folder.serving,
            outbox,
            self.folder.manifest_key(),
            s.grace_s,
        )

        def keep_routing_headers() -> None:
            agent.http_state.want_headers(agent.manager.sticky_keys())

        reconciler.on_routes = keep_routing_headers
        reconciler.access = agent.access
        self._tasks.append(asyncio.create_task(reconciler.run()))
        # What last served completely first, then anything newer received before the restart.
        serving = await asyncio.to_thread(store.load_serving)
        latest = await asyncio.to_thread(store.load_desired)
        for saved in (serving, latest if latest != serving else None):
            if saved is not None:
                reconciler.submit(desired_from_bytes(saved[1]))
                await reconciler.idle.wait()
                log.info("applied revision %d from local state", saved[0])
        host = agent.config.host
        shown = f"[{host}]" if ":" in host else host
        self.session = HubSession(
            self.folder,
            self.enrolment,
            store,
            outbox,
            reconciler,
            lambda: (f"http://{shown}:{agent.http_port}", f"{shown}:{agent.grpc_port}"),
            s.heartbeat_s,
        )
        monitors = agent.monitors
        if monitors is not None:
            monitors.sink = DriftForwarder(outbox, reconciler.model_of)
        rollups = RollupCollector(
            agent.metrics,
            reconciler.model_of,
            outbox,
            s.rollup_window_s,
            monitors.rollup_extra if monitors is not None else None,
        )
        self._tasks.append(asyncio.create_task(self.session.run()))
        self._tasks.append(asyncio.create_task(rollups.run()))
        await outbox.audit(
            "Agent.Started",
            self.enrolment.agent_id,
            "ok",
            {"desired_revision": reconciler.revision},
        )
        return {"agent_id": self.enrolment.agent_id}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
