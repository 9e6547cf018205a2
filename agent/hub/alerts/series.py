"""Where rules read their values: the `SeriesSource` interface and its SQL implementation
over the monitoring roll-ups and the fleet's agents (last seen)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.alerts.rules import RuleSpec
from modelfleet.agent.hub.db import Database
from modelfleet.agent.hub.db.fleet_models import Agent, MetricRollupRow

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class Sample:
    """A rule's value for one label set; None when the window holds too few samples."""

    labels: Labels
    value: float | None
    samples: int


class SeriesSource(Protocol):
    async def samples(self, workspace_id: str, spec: RuleSpec, now: datetime) -> list[Sample]:
        """One sample per label set the rule covers, from the window ending at `now`."""
        ...


@dataclass(slots=True)
class _Window:
    """Sums over one (environment, deployment) window; quantiles are request-weighted."""

    requests: int = 0
    errors: int = 0
    weight: float = 0.0
    quantile: float = 0.0
    extra_sum: float = 0.0
    extra_weight: float = 0.0
    extra_seen: bool = False


class SqlSeriesSource:
    """Reads roll-ups and agents; `last_seen` adds this replica's fresher in-memory view."""

    def __init__(
        self, db: Database, last_seen: Callable[[str], float | None] | None = None
    ) -> None:
        self._db = db
        self._last_seen = last_seen

    async def samples(self, workspace_id: str, spec: RuleSpec, now: datetime) -> list[Sample]:
        if spec.is_agent_rule:
            return await self._db.read(lambda s: self._agents(s, workspace_id, spec, now))
        return await self._db.read(lambda s: _rollups(s, workspace_id, spec, now))

    def _agents(self, s: Session, workspace_id: str, spec: RuleSpec, now: datetime) -> list[Sample]:
        stmt = select(
            Agent.id, Agent.environment, Agent.hostname, Agent.last_seen, Agent.enrolled_at
        ).where(Agent.workspace_id == workspace_id, Agent.revoked_at.is_(None))
        if spec.environment:
            stmt = stmt.where(Agent.environment == spec.environment)
        if spec.agent_id:
            stmt = stmt.where(Agent.id == spec.agent_id)
        out = []
        for agent_id, env, hostname, last_seen, enrolled_at in s.execute(stmt):
            seen = (last_seen or enrolled_at).timestamp()
            if self._last_seen is not None:
                seen = max(seen, self._last_seen(agent_id) or 0.0)
            labels = {"agent": agent_id, "environment": env, "hostname": hostname}
            out.append(Sample(labels, max(0.0, now.timestamp() - seen), 1))
        return out


def _rollups(s: Session, workspace_id: str, spec: RuleSpec, now: datetime) -> list[Sample]:
    column = {
        "latency_p50": MetricRollupRow.latency_p50,
        "latency_p95": MetricRollupRow.latency_p95,
        "latency_p99": MetricRollupRow.latency_p99,
    }.get(spec.series, MetricRollupRow.latency_p95)
    stmt = select(
        MetricRollupRow.environment,
        MetricRollupRow.deployment,
        MetricRollupRow.requests,
        MetricRollupRow.errors,
        column,
        MetricRollupRow.extra_json,
    ).where(
        MetricRollupRow.workspace_id == workspace_id,
        MetricRollupRow.window_start >= now - timedelta(seconds=spec.window_seconds),
        MetricRollupRow.window_start <= now,
    )
    if spec.environment:
        stmt = stmt.where(MetricRollupRow.environment == spec.environment)
    if spec.deployment:
        stmt = stmt.where(MetricRollupRow.deployment == spec.deployment)
    is_extra = spec.series not in ("requests", "error_rate") and not spec.series.startswith(
        "latency_"
    )
    windows: dict[tuple[str, str], _Window] = {}
    for env, deployment, requests, errors, quantile, extra_json in s.execute(stmt):
        w = windows.setdefault((env, deployment), _Window())
        w.requests += requests
        w.errors += errors
        w.weight += requests
        w.quantile += quantile * requests
        if is_extra:
            extra = orjson.loads(extra_json)
            if spec.series in extra:
                weight = float(extra.get(f"{spec.series}_samples", requests))
                w.extra_sum += float(extra[spec.series]) * weight
                w.extra_weight += weight
                w.extra_seen = True
    if spec.deployment and spec.environment and not windows:
        # A named deployment with no traffic at all: zero requests is a value of its own.
        windows[(spec.environment, spec.deployment)] = _Window()
    out = []
    for (env, deployment), w in sorted(windows.items()):
        labels = {"deployment": deployment, "environment": env}
        out.append(_sample(labels, spec, w, is_extra))
    return out


def _sample(labels: Labels, spec: RuleSpec, w: _Window, is_extra: bool) -> Sample:
    if spec.series == "requests":
        return Sample(labels, float(w.requests), w.requests)
    if is_extra:
        count = int(w.extra_weight)
        known = w.extra_seen and w.extra_weight > 0 and count >= spec.min_samples
        return Sample(labels, w.extra_sum / w.extra_weight if known else None, count)
    known = w.requests > 0 and w.requests >= spec.min_samples
    if not known:
        return Sample(labels, None, w.requests)
    if spec.series == "error_rate":
        return Sample(labels, w.errors / w.requests, w.requests)
    return Sample(labels, w.quantile / w.weight, w.requests)
