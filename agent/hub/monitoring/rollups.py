"""Roll-up queries: rows of a time range folded into buckets of `step` seconds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.fleet_models import MetricRollupRow
from modelfleet.agent.hub.errors import InvalidArgument

DEFAULT_STEP = 60
DEFAULT_RANGE = timedelta(hours=1)
MAX_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    workspace_id: str
    environment: str
    deployment: str
    since: datetime
    until: datetime
    step: int
    model_version: int = 0


@dataclass(slots=True)
class Bucket:
    """Sums for one (bucket, version); quantiles are request-weighted means of the windows'."""

    requests: int = 0
    errors: int = 0
    weight: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    extra: dict[str, list[float]] = field(default_factory=dict)

    def add(
        self, requests: int, errors: int, p50: float, p95: float, p99: float, extra: str
    ) -> None:
        w = float(max(requests, 1))
        self.requests += requests
        self.errors += errors
        self.weight += w
        self.p50 += p50 * w
        self.p95 += p95 * w
        self.p99 += p99 * w
        for name, value in orjson.loads(extra).items():
            sums = self.extra.setdefault(name, [0.0, 0.0])
            sums[0] += value * w
            sums[1] += w


def make_query(
    workspace_id: str,
    environment: str,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    step: int,
    model_version: int,
) -> MetricsQuery:
    if not deployment:
        raise InvalidArgument("deployment", "a deployment name", got="empty")
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_RANGE
    if since >= until:
        raise InvalidArgument("since", "a time before until")
    step = step or DEFAULT_STEP
    points = (until - since).total_seconds() / step
    if points > MAX_POINTS:
        raise InvalidArgument(
            "step_seconds",
            f"a step giving at most {MAX_POINTS} buckets over the range",
            got=f"{int(points)} buckets",
        )
    return MetricsQuery(workspace_id, environment, deployment, since, until, step, model_version)


def query(s: Session, q: MetricsQuery) -> list[tuple[datetime, int, Bucket]]:
    """(bucket start, model version, bucket) in time then version order."""
    stmt = select(
        MetricRollupRow.window_start,
        MetricRollupRow.model_version,
        MetricRollupRow.requests,
        MetricRollupRow.errors,
        MetricRollupRow.latency_p50,
        MetricRollupRow.latency_p95,
        MetricRollupRow.latency_p99,
        MetricRollupRow.extra_json,
    ).where(
        MetricRollupRow.workspace_id == q.workspace_id,
        MetricRollupRow.deployment == q.deployment,
        MetricRollupRow.window_start >= q.since,
        MetricRollupRow.window_start < q.until,
    )
    if q.environment:
        stmt = stmt.where(MetricRollupRow.environment == q.environment)
    if q.model_version:
        stmt = stmt.where(MetricRollupRow.model_version == q.model_version)
    origin = q.since.timestamp()
    buckets: defaultdict[tuple[int, int], Bucket] = defaultdict(Bucket)
    for start, version, requests, errors, p50, p95, p99, extra in s.execute(stmt):
        index = int((start.timestamp() - origin) // q.step)
        buckets[(index, version)].add(requests, errors, p50, p95, p99, extra)
    return [
        (q.since + timedelta(seconds=index * q.step), version, buckets[(index, version)])
        for index, version in sorted(buckets)
    ]
