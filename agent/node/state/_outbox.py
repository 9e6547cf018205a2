"""Events for the hub: audit events and metric roll-ups, queued durably before they are sent."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.agent.node.state._store import AUDIT, ROLLUP, PendingEvent, StateStore
from modelfleet.proto.v1 import fleet_pb2


@dataclass(frozen=True, slots=True)
class Rollup:
    """Serving metrics of one deployment version over one window."""

    deployment: str
    model_name: str
    model_version: int
    window_start: dt.datetime
    window_seconds: int
    requests: int
    errors: int
    latency_p50: float
    latency_p95: float
    latency_p99: float
    latency_mean: float
    batch_size_mean: float
    extra: Mapping[str, float] = field(default_factory=dict)


class Outbox:
    """Appends go to SQLite (fsynced) off the event loop; `changed` wakes the sender."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.changed = asyncio.Event()

    async def audit(
        self, action: str, target: str, outcome: str, details: Mapping[str, Any] | None = None
    ) -> int:
        body = fleet_pb2.AgentAuditEvent(
            action=action,
            target=target,
            outcome=outcome,
            details_json=orjson.dumps(details or {}).decode(),
        )
        event = fleet_pb2.OutboxEvent(time=_now(), audit=body)
        seq = await asyncio.to_thread(self.store.append, AUDIT, event.SerializeToString())
        self.changed.set()
        return seq

    async def rollups(self, rollups: list[Rollup]) -> None:
        if not rollups:
            return
        now = _now()
        bodies = [
            fleet_pb2.OutboxEvent(time=now, rollup=_rollup_pb(r)).SerializeToString()
            for r in rollups
        ]
        await asyncio.to_thread(self.store.append_many, ROLLUP, bodies)
        self.changed.set()


def batch_of(events: list[PendingEvent], oldest_pending: int) -> fleet_pb2.OutboxBatch:
    """The wire batch: each stored body with its sequence number filled in."""
    batch = fleet_pb2.OutboxBatch(oldest_pending_seq=oldest_pending)
    for pending in events:
        event = batch.events.add()
        event.ParseFromString(pending.body)
        event.seq = pending.seq
    return batch


def _rollup_pb(r: Rollup) -> fleet_pb2.MetricRollup:
    start = Timestamp()
    start.FromDatetime(r.window_start)
    return fleet_pb2.MetricRollup(
        deployment=r.deployment,
        model_name=r.model_name,
        model_version=r.model_version,
        window_start=start,
        window_seconds=r.window_seconds,
        requests=r.requests,
        errors=r.errors,
        latency_p50=r.latency_p50,
        latency_p95=r.latency_p95,
        latency_p99=r.latency_p99,
        latency_mean=r.latency_mean,
        batch_size_mean=r.batch_size_mean,
        extra=dict(r.extra),
    )


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp
