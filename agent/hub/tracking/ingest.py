"""LogBatch storage: idempotency key, params, tags, summaries and points in one transaction.

The work per batch is a constant number of statements: one upsert of every touched
series' summary (returning the series ids) and one bulk insert of the points, whose
per-key statistics are computed with numpy rather than point by point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import case, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.tracking_models import (
    BLOCK_STEPS,
    LoggedBatch,
    MetricSeries,
    Run,
    RunParam,
    RunTag,
    metric_blocks,
)
from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.agent.hub.tracking.queries import as_number, check_key
from modelfleet.proto.v1 import tracking_pb2

MAX_POINTS = 100_000
MAX_KEY = 128


@dataclass(frozen=True, slots=True)
class Points:
    """A batch's metric points as columns; `codes` index into `keys`."""

    keys: list[str]
    codes: NDArray[np.int64]
    values: NDArray[np.float64]
    steps: NDArray[np.int64]
    timestamps: NDArray[np.int64]


def _column(name: str, data: bytes, dtype: str, n: int) -> NDArray[Any]:
    width = np.dtype(dtype).itemsize
    if len(data) != n * width:
        raise InvalidArgument(
            f"columns.{name}", f"{n} little-endian {dtype} values ({n * width} bytes)",
            got=f"{len(data)} bytes",
        )  # fmt: skip
    return np.frombuffer(data, dtype=dtype)


def _from_columns(columns: tracking_pb2.MetricColumns) -> Points:
    keys = list(columns.keys)
    if len(columns.key_index) % 4:
        raise InvalidArgument("columns.key_index", "a whole number of uint32 values")
    n = len(columns.key_index) // 4
    codes = _column("key_index", columns.key_index, "<u4", n).astype(np.int64)
    if n and int(codes.max()) >= len(keys):
        raise InvalidArgument(
            "columns.key_index", f"indexes below {len(keys)} (the number of keys)",
            got=str(int(codes.max())),
        )  # fmt: skip
    return Points(
        keys,
        codes,
        _column("values", columns.values, "<f8", n).astype(np.float64),
        _column("steps", columns.steps, "<i8", n).astype(np.int64),
        _column("timestamps_ms", columns.timestamps_ms, "<i8", n).astype(np.int64),
    )


def _from_messages(metrics: Any) -> Points:
    index: dict[str, int] = {}
    codes = [index.setdefault(p.key, len(index)) for p in metrics]
    n = len(codes)
    return Points(
        list(index),
        np.array(codes, dtype=np.int64),
        np.fromiter((p.value for p in metrics), np.float64, n),
        np.fromiter((p.step for p in metrics), np.int64, n),
        np.fromiter((p.timestamp_ms for p in metrics), np.int64, n),
    )


def read_points(request: tracking_pb2.LogBatchRequest) -> Points:
    """The batch's points (messages, then columns) as one set of checked columns."""
    parts = [_from_messages(request.metrics), _from_columns(request.columns)]
    n = sum(len(p.values) for p in parts)
    if n > MAX_POINTS:
        raise InvalidArgument("metrics", f"at most {MAX_POINTS} points per batch", got=str(n))
    index: dict[str, int] = {}
    codes = []
    for part in parts:
        remap = np.array([index.setdefault(k, len(index)) for k in part.keys] or [0])
        codes.append(remap[part.codes])
    for key in index:
        check_key(f"metrics[key={key[:64]!r}].key", key)
    values = np.concatenate([p.values for p in parts])
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InvalidArgument(
            f"metrics[{bad[0]}].value", "a finite number", got=str(values[bad[0]])
        )
    stamps = np.concatenate([p.timestamps for p in parts])
    stamps[stamps == 0] = int(time.time() * 1000)
    # Only keys with points in this batch (a client may list every key it knows).
    merged = np.concatenate(codes) if n else np.zeros(0, dtype=np.int64)
    names = list(index)
    used = np.flatnonzero(np.bincount(merged, minlength=len(names)))
    remap = np.zeros(len(names), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return Points(
        [names[i] for i in used],
        remap[merged] if n else merged,
        values,
        np.concatenate([p.steps for p in parts]),
        stamps,
    )


def claim(s: Session, run_id: str, key: str, points: int) -> int | None:
    """Record `key` for `run_id`; the earlier batch's point count when it was seen before."""
    if not key or len(key) > MAX_KEY:
        raise InvalidArgument("idempotency_key", f"1-{MAX_KEY} characters", got=str(len(key)))
    prior = s.get(LoggedBatch, (run_id, key))
    if prior is not None:
        return prior.metrics_stored
    s.add(LoggedBatch(run_id=run_id, idempotency_key=key, metrics_stored=points))
    # A concurrent batch with the same key blocks on this row and then fails the unique
    # check; the caller answers it as a duplicate.
    s.flush()
    return None


def store_params(s: Session, run: Run, params: dict[str, str]) -> None:
    """Params are write-once: the same value again is fine, a different one is refused."""
    if not params:
        return
    query = select(RunParam.key, RunParam.value).where(
        RunParam.run_id == run.id, RunParam.key.in_(list(params))
    )
    existing = {key: value for key, value in s.execute(query)}
    for key, value in params.items():
        old = existing.get(key)
        if old is not None and old != value:
            expected = f"the value already logged ({old[:64]!r}); params are write-once"
            raise InvalidArgument(f"params[{key!r}]", expected, got=repr(value[:64]))
    fresh = [
        {"run_id": run.id, "run_seq": run.seq, "key": k, "value": v, "value_num": as_number(v)}
        for k, v in params.items()
        if k not in existing
    ]
    if fresh:
        s.execute(insert(RunParam), fresh)


def store_tags(s: Session, run: Run, tags: dict[str, str]) -> None:
    if not tags:
        return
    upsert = _insert(s)(RunTag).values(
        [{"run_id": run.id, "run_seq": run.seq, "key": k, "value": v} for k, v in tags.items()]
    )
    s.execute(
        upsert.on_conflict_do_update(
            index_elements=[RunTag.run_id, RunTag.key], set_={"value": upsert.excluded.value}
        )
    )


def _insert(s: Session) -> Any:
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def store_points(s: Session, run: Run, points: Points) -> int:
    """Update the touched summaries and insert the points; returns how many were stored."""
    n = len(points.values)
    if n == 0:
        return 0
    codes = points.codes
    k = len(points.keys)
    counts = np.bincount(codes, minlength=k)
    lows = np.full(k, np.inf)
    highs = np.full(k, -np.inf)
    np.minimum.at(lows, codes, points.values)
    np.maximum.at(highs, codes, points.values)
    # Each key's last point: the greatest step, then timestamp, then position in the batch.
    order = np.lexsort((np.arange(n), points.timestamps, points.steps, codes))
    ends = np.cumsum(counts) - 1
    last = order[ends]
    rows = [
        {
            "run_id": run.id,
            "run_seq": run.seq,
            "key": key,
            "last": float(points.values[last[i]]),
            "min": float(lows[i]),
            "max": float(highs[i]),
            "count": int(counts[i]),
            "last_step": int(points.steps[last[i]]),
            "last_timestamp_ms": int(points.timestamps[last[i]]),
        }
        for i, key in enumerate(points.keys)
    ]
    ids = _upsert_series(s, rows)
    series = np.array([ids[key] for key in points.keys], dtype=np.int64)[points.codes]
    _upsert_blocks(s, series, points)
    if s.get_bind().dialect.name == "postgresql":
        _copy_points(s, series, points)
    else:
        tuples = zip(
            series.tolist(),
            points.steps.tolist(),
            points.values.tolist(),
            points.timestamps.tolist(),
            strict=True,
        )
        s.connection().exec_driver_sql(_INSERT_POINTS, list(tuples))
    return n


_INSERT_POINTS = (
    "INSERT INTO metric_points (series_id, step, value, timestamp_ms) VALUES (?, ?, ?, ?)"
)
# PostgreSQL's binary COPY row: a field count, then (length, big-endian value) per field.
_COPY_ROW = np.dtype(
    [("fields", ">i2"), ("l1", ">i4"), ("series", ">i8"), ("l2", ">i4"), ("step", ">i8"),
     ("l3", ">i4"), ("value", ">f8"), ("l4", ">i4"), ("ts", ">i8")]
)  # fmt: skip
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


def _copy_points(s: Session, series: NDArray[np.int64], points: Points) -> None:
    """Binary COPY built with numpy: no per-point Python work on the way to PostgreSQL."""
    rows = np.empty(len(series), dtype=_COPY_ROW)
    rows["fields"] = 4
    for length in ("l1", "l2", "l3", "l4"):
        rows[length] = 8
    rows["series"] = series
    rows["step"] = points.steps
    rows["value"] = points.values
    rows["ts"] = points.timestamps
    driver = s.connection().connection.driver_connection
    assert driver is not None
    copy_sql = "COPY metric_points (series_id, step, value, timestamp_ms) FROM STDIN BINARY"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        copy.write(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)


def _least_greatest(s: Session) -> tuple[Any, Any]:
    """Two-argument min and max: SQLite's scalar min()/max() are PostgreSQL's least/greatest."""
    if s.get_bind().dialect.name == "postgresql":
        return func.least, func.greatest
    return func.min, func.max


def _upsert_series(s: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    least, greatest = _least_greatest(s)
    stmt = _insert(s)(MetricSeries).values(rows)
    new = stmt.excluded
    newer = new.last_step >= MetricSeries.last_step
    stmt = stmt.on_conflict_do_update(
        index_elements=[MetricSeries.run_id, MetricSeries.key],
        set_={
            "last": case((newer, new["last"]), else_=MetricSeries.last),
            "last_step": case((newer, new.last_step), else_=MetricSeries.last_step),
            "last_timestamp_ms": case(
                (newer, new.last_timestamp_ms), else_=MetricSeries.last_timestamp_ms
            ),
            "min": least(MetricSeries.min, new["min"]),
            "max": greatest(MetricSeries.max, new["max"]),
            "count": MetricSeries.count + new["count"],
        },
    ).returning(MetricSeries.id, MetricSeries.key)
    return {key: int(series_id) for series_id, key in s.execute(stmt)}


def _upsert_blocks(s: Session, series: NDArray[np.int64], points: Points) -> None:
    """Merge the batch into its series' step blocks: one row per touched block, computed
    with numpy (a sort and a few reductions), upserted in one executemany."""
    n = len(series)
    blocks = np.floor_divide(points.steps, BLOCK_STEPS)
    # Sorted by block, then step, timestamp and position: a group's last row is its point
    # with the greatest step (latest timestamp, then latest sent, on ties).
    order = np.lexsort((np.arange(n), points.timestamps, points.steps, blocks, series))
    ids, keys = series[order], blocks[order]
    values, steps, stamps = points.values[order], points.steps[order], points.timestamps[order]
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (keys[1:] != keys[:-1])])
    ends = np.r_[starts[1:], n] - 1
    columns = (
        ids[starts], keys[starts], ends - starts + 1,
        np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts),
        steps[starts], steps[ends], values[ends], stamps[ends],
    )  # fmt: skip
    names = ("series_id", "block", "count", "min", "max", "first_step", "last_step",
             "last_value", "last_timestamp_ms")  # fmt: skip
    lists = [c.tolist() for c in columns]
    rows = [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]
    least, greatest = _least_greatest(s)
    stmt = _insert(s)(metric_blocks)
    new, old = stmt.excluded, metric_blocks.c
    newer = (new.last_step > old.last_step) | (
        (new.last_step == old.last_step) & (new.last_timestamp_ms >= old.last_timestamp_ms)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.series_id, old.block],
        set_={
            "count": old.count + new["count"],
            "min": least(old.min, new["min"]),
            "max": greatest(old.max, new["max"]),
            "first_step": least(old.first_step, new.first_step),
            "last_step": greatest(old.last_step, new.last_step),
            "last_value": case((newer, new.last_value), else_=old.last_value),
            "last_timestamp_ms": case((newer, new.last_timestamp_ms), else_=old.last_timestamp_ms),
        },
    )
    s.execute(stmt, rows)


def batch_response(stored: int, duplicate: bool) -> tracking_pb2.LogBatchResponse:
    return tracking_pb2.LogBatchResponse(metrics_stored=stored, duplicate=duplicate)
