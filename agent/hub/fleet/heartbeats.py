"""Heartbeats kept in memory and written to the database in periodic batches.

A beat costs one dict update; the flush writes every agent heard from since the last one
in a single executemany, so 200 agents beating every 5 s cost one small write per interval.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db import Database
from modelfleet.agent.hub.db.fleet_models import Agent
from modelfleet.proto.v1 import fleet_pb2


class HeartbeatBook:
    def __init__(self, db: Database, offline_after: float) -> None:
        self._db = db
        self._offline_after = offline_after
        self._seen: dict[str, float] = {}
        self._beats: dict[str, fleet_pb2.Heartbeat] = {}
        self._dirty: set[str] = set()

    def seen(self, agent_id: str) -> None:
        self._seen[agent_id] = time.time()
        self._dirty.add(agent_id)

    def beat(self, agent_id: str, heartbeat: fleet_pb2.Heartbeat) -> None:
        self._seen[agent_id] = time.time()
        self._beats[agent_id] = heartbeat
        self._dirty.add(agent_id)

    def last_seen(self, agent_id: str) -> float | None:
        return self._seen.get(agent_id)

    def last_heartbeat(self, agent_id: str) -> fleet_pb2.Heartbeat | None:
        return self._beats.get(agent_id)

    def online(self, agent_id: str, db_last_seen: datetime | None = None) -> bool:
        """Heard from within `offline_after` (here, or per the database for other replicas)."""
        seen = self._seen.get(agent_id)
        if seen is None and db_last_seen is not None:
            seen = db_last_seen.timestamp()
        return seen is not None and time.time() - seen < self._offline_after

    def forget(self, agent_id: str) -> None:
        self._seen.pop(agent_id, None)
        self._beats.pop(agent_id, None)
        self._dirty.discard(agent_id)

    async def flush(self) -> int:
        """Write what changed since the last flush; returns the number of agents written."""
        if not self._dirty:
            return 0
        dirty, self._dirty = self._dirty, set()
        beats: list[dict[str, object]] = []
        seen_only: list[dict[str, object]] = []
        for agent_id in dirty:
            seen = self._seen.get(agent_id)
            if seen is None:
                continue
            row: dict[str, object] = {"agent_id": agent_id, "seen": _utc(seen)}
            beat = self._beats.get(agent_id)
            if beat is None:
                seen_only.append(row)
            else:
                row["beat"] = beat.SerializeToString()
                beats.append(row)

        def write(s: Session) -> None:
            # One executemany per statement, whatever the number of agents.
            if beats:
                s.connection().execute(_WRITE_BEAT, beats)
            if seen_only:
                s.connection().execute(_WRITE_SEEN, seen_only)

        try:
            await self._db.write(write)
        except BaseException:
            self._dirty |= dirty
            raise
        return len(beats) + len(seen_only)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


_WRITE_BEAT = (
    update(Agent)
    .where(Agent.id == bindparam("agent_id"))
    .values(last_seen=bindparam("seen"), last_heartbeat=bindparam("beat"))
)
_WRITE_SEEN = (
    update(Agent).where(Agent.id == bindparam("agent_id")).values(last_seen=bindparam("seen"))
)
