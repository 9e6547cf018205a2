"""GetMetricHistory: a series downsampled into at most N step-range buckets.

Each bucket keeps its minimum and maximum (so a one-point spike survives any zoom level)
and its last point (the greatest step, latest timestamp on ties) as the representative.
Buckets are integer step ranges of equal width, computed with integer division only, so
the grouping is exact on both backends and never overflows.

Wide buckets are merged from the series' pre-aggregated step blocks (`metric_blocks`,
BLOCK_STEPS steps each), so a 1M-point curve reads ~4,000 rows instead of its points;
bucket widths are then whole numbers of blocks, and the blocks the step range cuts
through are aggregated from their points. Narrow buckets are grouped from the points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.tracking_models import (
    BLOCK_STEPS,
    MetricSeries,
    metric_blocks,
    metric_points,
)
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
    # Two index probes (SQLite only optimizes a lone min() or max() to one).
    first = int(s.execute(select(p.step).where(where).order_by(p.step).limit(1)).scalar_one())
    last = int(s.execute(select(p.step).where(where).order_by(p.step.desc()).limit(1)).scalar_one())
    width = -(-(last - first + 1) // limit)
    # Blocks when a bucket spans at least half a block: rounding the width up to whole
    # blocks then costs at most half the resolution asked for.
    if 2 * width >= BLOCK_STEPS:
        return _from_blocks(s, series.id, limit, (lo, hi), (first, last)), total
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


def _from_blocks(
    s: Session, series_id: int, limit: int, bounds: tuple[int, int], steps: tuple[int, int]
) -> list[Bucket]:
    """Buckets of whole blocks for the step range `bounds`, whose first and last logged
    steps are `steps`."""
    (lo, hi), (first, last) = bounds, steps
    low, high = first // BLOCK_STEPS, last // BLOCK_STEPS
    per_bucket = -(-(high - low + 1) // limit)
    # Blocks wholly inside the range come from metric_blocks; the (at most two) that it
    # cuts through are aggregated from their points in range.
    inner_low = low if low * BLOCK_STEPS >= lo else low + 1
    inner_high = high if high * BLOCK_STEPS + BLOCK_STEPS - 1 <= hi else high - 1
    b = metric_blocks.c
    rows: list[_BlockRow] = list(
        s.execute(
            select(b.block, b.count, b.min, b.max, b.first_step, b.last_step, b.last_value,
                   b.last_timestamp_ms)
            .where(b.series_id == series_id, b.block.between(inner_low, inner_high))
        )
    )  # fmt: skip
    edges = sorted(b for b in {low, high} if not inner_low <= b <= inner_high)
    if edges:
        rows += _edge_blocks(s, series_id, edges, first, last)
    rows.sort()
    block, count, lows, highs, first_step, last_step, value, stamp = _columns(rows)
    group = (block - low) // per_bucket
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(group)] - 1
    return [
        Bucket(int(last_step[e]), float(value[e]), float(lo), float(hi), int(n),
               int(first_step[a]), int(last_step[e]), int(stamp[e]))
        for a, e, n, lo, hi in zip(
            starts, ends, np.add.reduceat(count, starts), np.minimum.reduceat(lows, starts),
            np.maximum.reduceat(highs, starts), strict=True,
        )
    ]  # fmt: skip


_BlockRow = tuple[int, int, float, float, int, int, float, int]
_FLOAT_COLUMNS = (2, 3, 6)


def _columns(rows: list[_BlockRow]) -> list[NDArray[Any]]:
    """Block rows as one numpy column each (int64, or float64 for min, max and value)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 8
    return [
        np.array(c, dtype=np.float64 if i in _FLOAT_COLUMNS else np.int64)
        for i, c in enumerate(columns)
    ]


def _edge_blocks(
    s: Session, series_id: int, blocks: list[int], first: int, last: int
) -> list[_BlockRow]:
    """Block rows for `blocks`, from their points between `first` and `last`."""
    p = metric_points.c
    out: list[_BlockRow] = []
    for block in blocks:
        lo = max(first, block * BLOCK_STEPS)
        hi = min(last, block * BLOCK_STEPS + BLOCK_STEPS - 1)
        points = s.execute(
            select(p.step, p.timestamp_ms, p.value)
            .where(p.series_id == series_id, p.step.between(lo, hi))
            .order_by(p.step, p.timestamp_ms)
        ).all()
        if not points:
            continue
        values = np.array([v for *_, v in points], dtype=np.float64)
        end_step, end_stamp, end_value = points[-1]
        low, high = float(values.min()), float(values.max())
        start = int(points[0][0])
        out.append((block, len(points), low, high, start, end_step, end_value, end_stamp))
    return out
