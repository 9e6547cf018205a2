"""GetMetricHistory: a series downsampled in SQL into at most N step-range buckets.

Each bucket keeps its minimum and maximum (so a one-point spike survives any zoom level)
and its last point (the greatest step, latest timestamp on ties) as the representative.
Buckets are integer step ranges of equal width, computed with integer division only, so
the grouping is exact on both backends and never overflows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.tracking_models import MetricSeries, metric_points
from modelfleet.agent.hub.errors import InvalidArgument

MAX_POINTS = 100_000
_STEP_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Bucket:
    step: int
    value: float
    min: float
    max: float
    count: int
    first_step: int
    last_step: int
    timestamp_ms: int


def step_range(start: int, end: int) -> tuple[int, int]:
    if start == 0 and end == 0:
        return -_STEP_MAX - 1, _STEP_MAX
    end = _STEP_MAX if end == 0 else end
    if end < start:
        raise InvalidArgument("end_step", f"a step >= start_step ({start})", got=str(end))
    return start, end


def history(
    s: Session, series: MetricSeries, max_points: int, start: int, end: int
) -> tuple[list[Bucket], int]:
    """The buckets and the number of points they cover."""
    limit = MAX_POINTS if max_points == 0 else min(max_points, MAX_POINTS)
    lo, hi = step_range(start, end)
    p = metric_points.c
    where: ColumnElement[bool] = and_(p.series_id == series.id, p.step.between(lo, hi))
    if (lo, hi) == step_range(0, 0):
        total = series.count
    else:
        total = int(s.execute(select(func.count()).where(where)).scalar_one())
    if total == 0:
        return [], 0
    if total <= limit:
        rows = s.execute(select(p.step, p.value, p.timestamp_ms).where(where).order_by(p.step))
        return [Bucket(st, v, v, v, 1, st, st, ts) for st, v, ts in rows], total
    first, last = s.execute(select(func.min(p.step), func.max(p.step)).where(where)).one()
    width = -(-(int(last) - int(first) + 1) // limit)
    bucket = ((p.step - first) // width).label("bucket")
    groups = (
        select(
            bucket,
            func.count().label("n"),
            func.min(p.value).label("low"),
            func.max(p.value).label("high"),
            func.min(p.step).label("first_step"),
            func.max(p.step).label("last_step"),
        )
        .where(where)
        .group_by(bucket)
        .subquery()
    )
    # Each bucket joined to its last point by an index lookup on its last step; on
    # duplicate steps the latest timestamp comes last and wins.
    rows = s.execute(
        select(groups, p.value, p.timestamp_ms)
        .join(metric_points, and_(p.series_id == series.id, p.step == groups.c.last_step))
        .order_by(groups.c.bucket, p.timestamp_ms)
    )
    buckets: dict[int, Bucket] = {}
    for index, n, low, high, first_step, last_step, value, ts in map(tuple, rows):
        buckets[index] = Bucket(last_step, value, low, high, n, first_step, last_step, ts)
    return list(buckets.values()), total
