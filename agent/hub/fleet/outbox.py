"""Outbox ingest: each (agent, seq) stored once, in the transaction that advances the ack mark."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import audit
from modelfleet.agent.hub.db.fleet_models import Agent, MetricRollupRow, OutboxReceipt
from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.agent.hub.monitoring.drift import check_drift, drift_row
from modelfleet.proto.v1 import fleet_pb2

MAX_BATCH = 1000
#: earlier agents reported these; the audit log's own words are "ok" and "error"
_OUTCOMES = {"success": "ok", "failure": "error"}


def check_batch(batch: fleet_pb2.OutboxBatch) -> None:
    """Refuse a malformed batch as a whole, before anything is stored."""
    if len(batch.events) > MAX_BATCH:
        raise InvalidArgument("outbox.events", f"at most {MAX_BATCH} events per batch")
    for i, event in enumerate(batch.events):
        field = f"outbox.events[{i}]"
        if event.seq == 0:
            raise InvalidArgument(f"{field}.seq", "a sequence number >= 1")
        kind = event.WhichOneof("body")
        if kind is None:
            raise InvalidArgument(
                f"{field}.body", "an audit event, a metric roll-up or a drift report"
            )
        if kind == "audit":
            if not 1 <= len(event.audit.action) <= 128:
                raise InvalidArgument(f"{field}.audit.action", "1-128 characters")
            try:
                details = orjson.loads(event.audit.details_json or "{}")
            except orjson.JSONDecodeError:
                details = None
            if not isinstance(details, dict):
                raise InvalidArgument(f"{field}.audit.details_json", "a JSON object")
        elif kind == "drift":
            check_drift(event.drift, f"{field}.drift")
        elif not 1 <= len(event.rollup.deployment) <= 64:
            raise InvalidArgument(f"{field}.rollup.deployment", "a deployment name")


def ingest(s: Session, agent_id: str, batch: fleet_pb2.OutboxBatch, source: str) -> int:
    """Store the batch's new events; returns the committed mark (every seq <= it is stored)."""
    agent = s.get_one(Agent, agent_id, with_for_update=True)
    committed = agent.committed_seq
    if batch.oldest_pending_seq > committed + 1:
        # The agent dropped the events below (outbox cap): nothing to wait for.
        committed = batch.oldest_pending_seq - 1
    fresh: dict[int, fleet_pb2.OutboxEvent] = {}
    for event in batch.events:
        if event.seq > committed:
            fresh.setdefault(event.seq, event)
    if fresh:
        stored = set(
            s.scalars(
                select(OutboxReceipt.seq).where(
                    OutboxReceipt.agent_id == agent_id, OutboxReceipt.seq.in_(list(fresh))
                )
            )
        )
        new = [fresh[q] for q in sorted(fresh) if q not in stored]
        _store(s, agent, new, source)
        if new:
            s.execute(insert(OutboxReceipt), [{"agent_id": agent_id, "seq": e.seq} for e in new])
    waiting = s.scalars(
        select(OutboxReceipt.seq)
        .where(OutboxReceipt.agent_id == agent_id, OutboxReceipt.seq > committed)
        .order_by(OutboxReceipt.seq)
    )
    for seq in waiting:
        if seq != committed + 1:
            break
        committed = seq
    if committed != agent.committed_seq:
        s.execute(
            delete(OutboxReceipt).where(
                OutboxReceipt.agent_id == agent_id, OutboxReceipt.seq <= committed
            )
        )
        agent.committed_seq = committed
    return committed


def _store(s: Session, agent: Agent, events: Sequence[fleet_pb2.OutboxEvent], source: str) -> None:
    rollups = []
    for event in events:
        if event.WhichOneof("body") == "audit":
            body = event.audit
            details = orjson.loads(body.details_json or "{}")
            details["agent_seq"] = event.seq
            if event.HasField("time"):
                details["agent_time"] = event.time.ToDatetime(tzinfo=UTC).isoformat()
            audit.append(
                s,
                audit.AuditRecord(
                    actor_kind="agent",
                    actor_id=agent.id,
                    actor_name=(agent.hostname or agent.id)[:128],
                    source=source[:128],
                    workspace_id=agent.workspace_id,
                    action=body.action,
                    target=_target(agent, body.action, body.target)[:256],
                    outcome=_OUTCOMES.get(body.outcome, body.outcome or "ok")[:16],
                    details_json=audit.details_json(details),
                ),
            )
        elif event.WhichOneof("body") == "drift":
            s.add(drift_row(agent, event.drift))
        else:
            r = event.rollup
            rollups.append(
                {
                    "workspace_id": agent.workspace_id,
                    "agent_id": agent.id,
                    "environment": agent.environment,
                    "deployment": r.deployment,
                    "model_name": r.model_name[:64],
                    "model_version": r.model_version,
                    "window_start": r.window_start.ToDatetime(tzinfo=UTC),
                    "window_seconds": r.window_seconds or 10,
                    "requests": r.requests,
                    "errors": r.errors,
                    "latency_p50": r.latency_p50,
                    "latency_p95": r.latency_p95,
                    "latency_p99": r.latency_p99,
                    "latency_mean": r.latency_mean,
                    "batch_size_mean": r.batch_size_mean,
                    "extra_json": orjson.dumps(dict(r.extra)).decode(),
                }
            )
    if rollups:
        s.execute(insert(MetricRollupRow), rollups)


def _target(agent: Agent, action: str, target: str) -> str:
    """The hub's own target names: agents name a deployment or themselves without prefix,
    and the environment is the one the agent's certificate carries."""
    if action.startswith("Deployment.") and not target.startswith("deployment:"):
        return f"deployment:{agent.environment}/{target}"
    if action.startswith("Agent."):
        return f"agent:{agent.id}"
    return target
