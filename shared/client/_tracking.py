"""Tracking dataclasses (experiments, runs, metric summaries and histories) and their
conversion from the hub's messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import NamedTuple

from modelfleet.client._convert import time_from_pb
from modelfleet.proto.v1 import tracking_pb2


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    description: str
    tags: dict[str, str]
    run_count: int
    created_at: datetime | None
    created_by: str


class MetricSummary(NamedTuple):
    """A metric of a run: its last value, range, number of points and last step. A named
    tuple: a page of runs carries thousands, and these are the cheapest to build."""

    key: str
    last: float
    min: float
    max: float
    count: int  # type: ignore[assignment]  # the field hides tuple.count
    last_step: int


@dataclass(frozen=True, slots=True)
class RunArtifact:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    experiment_id: str
    name: str
    status: RunStatus | None
    start_time: datetime | None
    end_time: datetime | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, MetricSummary]
    artifacts: tuple[RunArtifact, ...]
    parent_run_id: str | None
    created_by: str


@dataclass(frozen=True, slots=True)
class RunSearchPage:
    runs: tuple[Run, ...]
    next_page_token: str | None
    # How many runs match in all; when `total_is_estimate`, the database's estimate (the
    # hub estimates rather than counts past ~1,000 matches on PostgreSQL).
    total_count: int
    total_is_estimate: bool = False

    def describe_total(self) -> str:
        """'1,234' or, for an estimate, 'about 1,234'."""
        return f"about {self.total_count:,}" if self.total_is_estimate else f"{self.total_count:,}"


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """A step range of a metric: its last point (`step`, `value`) and its envelope."""

    step: int
    value: float
    min: float
    max: float
    count: int
    first_step: int
    last_step: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class MetricHistory:
    buckets: tuple[MetricBucket, ...]
    total_points: int


@dataclass(frozen=True, slots=True)
class RunComparison:
    runs: tuple[Run, ...]
    # Param key -> one value per run ("" where a run lacks it), and whether they differ.
    params: dict[str, tuple[tuple[str, ...], bool]] = field(default_factory=dict)
    # Metric key -> one summary per run (None where a run lacks it).
    metrics: dict[str, tuple[MetricSummary | None, ...]] = field(default_factory=dict)


_STATUS_FROM_PB = {
    tracking_pb2.RUNNING: RunStatus.RUNNING,
    tracking_pb2.FINISHED: RunStatus.FINISHED,
    tracking_pb2.FAILED: RunStatus.FAILED,
    tracking_pb2.KILLED: RunStatus.KILLED,
}
_STATUS_TO_PB = {status: value for value, status in _STATUS_FROM_PB.items()}


def status_to_pb(status: RunStatus | None) -> tracking_pb2.RunStatus.ValueType:
    return tracking_pb2.RUN_STATUS_UNSPECIFIED if status is None else _STATUS_TO_PB[status]


def experiment_from_pb(msg: tracking_pb2.Experiment) -> Experiment:
    return Experiment(
        id=msg.id,
        name=msg.name,
        description=msg.description,
        tags=dict(msg.tags),
        run_count=msg.run_count,
        created_at=time_from_pb(msg.created_at),
        created_by=msg.created_by,
    )


def summary_from_pb(msg: tracking_pb2.MetricSummary) -> MetricSummary:
    return MetricSummary(msg.key, msg.last, msg.min, msg.max, msg.count, msg.last_step)


# MetricSummary._make without its Python frame (thousands per page of runs)
_new_summary = partial(tuple.__new__, MetricSummary)


def run_from_pb(msg: tracking_pb2.Run) -> Run:
    table = msg.metrics
    keys = list(table.keys)
    columns = zip(keys, table.last, table.min, table.max, table.count, table.last_step, strict=True)
    summaries = map(_new_summary, columns)
    return Run(
        id=msg.id,
        experiment_id=msg.experiment_id,
        name=msg.name,
        status=_STATUS_FROM_PB.get(msg.status),
        start_time=time_from_pb(msg.start_time),
        end_time=time_from_pb(msg.end_time),
        params=dict(msg.params),
        tags=dict(msg.tags),
        metrics=dict(zip(keys, summaries, strict=True)),
        artifacts=tuple(RunArtifact(a.path, a.sha256, a.size) for a in msg.artifacts),
        parent_run_id=msg.parent_run_id or None,
        created_by=msg.created_by,
    )


def search_page_from_pb(msg: tracking_pb2.SearchRunsResponse) -> RunSearchPage:
    return RunSearchPage(
        tuple(run_from_pb(r) for r in msg.runs),
        msg.next_page_token or None,
        msg.total_count,
        msg.total_is_estimate,
    )


def history_from_pb(msg: tracking_pb2.GetMetricHistoryResponse) -> MetricHistory:
    return MetricHistory(
        tuple(
            MetricBucket(
                b.step, b.value, b.min, b.max, b.count, b.first_step, b.last_step, b.timestamp_ms
            )
            for b in msg.buckets
        ),
        msg.total_points,
    )


def comparison_from_pb(msg: tracking_pb2.CompareRunsResponse) -> RunComparison:
    return RunComparison(
        runs=tuple(run_from_pb(r) for r in msg.runs),
        params={p.key: (tuple(p.values), p.differs) for p in msg.params},
        metrics={
            m.key: tuple(summary_from_pb(s) if s.count else None for s in m.per_run)
            for m in msg.metrics
        },
    )
