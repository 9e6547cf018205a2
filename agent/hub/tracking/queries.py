"""Tracking lookups, always scoped by workspace, and whole runs loaded in a few queries."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.tracking_models import (
    Experiment,
    MetricSeries,
    Run,
    RunArtifactLink,
    RunParam,
    RunTag,
)
from modelfleet.agent.hub.errors import InvalidArgument, NotFound

_KEY = re.compile(r"[A-Za-z0-9_\-./ ]{1,250}")
KEY_RULE = "1-250 characters: letters, digits, spaces, '_', '-', '.' or '/'"
MAX_VALUE = 6000
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Summary:
    key: str
    last: float
    min: float
    max: float
    count: int
    last_step: int


class RunFields(Protocol):
    """What a run message needs of a run: an ORM `Run` or a row of `RUN_COLUMNS`."""

    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def experiment_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def start_time(self) -> datetime: ...
    @property
    def end_time(self) -> datetime | None: ...
    @property
    def parent_run_id(self) -> str | None: ...
    @property
    def created_by(self) -> str: ...


RUN_COLUMNS = (
    Run.id,
    Run.seq,
    Run.experiment_id,
    Run.name,
    Run.status,
    Run.start_time,
    Run.end_time,
    Run.parent_run_id,
    Run.created_by,
)


@dataclass
class RunView:
    run: RunFields
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[Summary] = field(default_factory=list)
    artifacts: list[RunArtifactLink] = field(default_factory=list)


def check_key(name: str, key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidArgument(name, KEY_RULE, got=repr(key[:64]) if key else "empty")
    return key


def check_values(name: str, values: Mapping[str, str]) -> dict[str, str]:
    """Params or tags: valid keys, values of at most MAX_VALUE characters."""
    for key, value in values.items():
        check_key(f"{name}[{key[:64]!r}]", key)
        if len(value) > MAX_VALUE:
            raise InvalidArgument(
                f"{name}[{key!r}]", f"at most {MAX_VALUE} characters", got=str(len(value))
            )
    return dict(values)


def as_number(value: str) -> float | None:
    """A param value read as a finite number, for numeric filters; None when it is not one."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def assign_seq(s: Session, run: Run) -> None:
    """Number a new run on SQLite, which has no identity columns (PostgreSQL numbers it).

    Every SQLite writer holds the database's write lock (BEGIN IMMEDIATE), so the next
    number cannot be taken twice.
    """
    if s.get_bind().dialect.name == "sqlite":
        run.seq = int(s.execute(select(func.coalesce(func.max(Run.seq), 0) + 1)).scalar_one())


def find_experiment(
    s: Session, workspace_id: str, ref: str, name: str = "experiment"
) -> Experiment:
    """By id or by name, in this workspace only."""
    if not ref:
        raise InvalidArgument(name, "an experiment id or name", got="empty")
    query = select(Experiment).where(Experiment.workspace_id == workspace_id)
    row = s.scalars(query.where(Experiment.name == ref)).first()
    if row is None and _RUN_ID.fullmatch(ref):
        row = s.scalars(query.where(Experiment.id == ref)).first()
    if row is None:
        raise NotFound(f"{name}: no experiment {ref[:128]!r} in this workspace")
    return row


def find_run(s: Session, workspace_id: str, run_id: str, name: str = "run_id") -> Run:
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidArgument(name, "a run id (32 hex characters)", got=repr(run_id[:64]))
    row = s.get(Run, run_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"{name}: no run {run_id} in this workspace")
    return row


def run_counts(s: Session, experiment_ids: Sequence[str]) -> dict[str, int]:
    if not experiment_ids:
        return {}
    rows = s.execute(
        select(Run.experiment_id, func.count())
        .where(Run.experiment_id.in_(experiment_ids))
        .group_by(Run.experiment_id)
    )
    return {experiment_id: int(n) for experiment_id, n in rows}


def among(s: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; one array parameter on PostgreSQL, where a list of 100 keys
    would otherwise be expanded into 100 bind parameters, each named on every call."""
    if s.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def summaries(s: Session, runs: Sequence[RunFields]) -> dict[str, list[Summary]]:
    out: dict[str, list[Summary]] = {r.id: [] for r in runs}
    rows = s.execute(
        select(
            MetricSeries.run_id,
            MetricSeries.key,
            MetricSeries.last,
            MetricSeries.min,
            MetricSeries.max,
            MetricSeries.count,
            MetricSeries.last_step,
        )
        .where(among(s, MetricSeries.run_seq, [r.seq for r in runs]))
        .order_by(MetricSeries.run_seq, MetricSeries.key)
    )
    for run_id, key, last, low, high, count, last_step in rows:
        out[run_id].append(Summary(key, last, low, high, count, last_step))
    return out


def run_views(s: Session, runs: Sequence[RunFields]) -> list[RunView]:
    """Runs with params, tags, metric summaries and artifacts: four queries for any number,
    each returning plain tuples (no ORM objects are built for a page of runs)."""
    views = {r.id: RunView(r) for r in runs}
    if not views:
        return []
    seqs = [r.seq for r in runs]
    query = select(RunParam.run_id, RunParam.key, RunParam.value)
    for run_id, key, value in s.execute(query.where(among(s, RunParam.run_seq, seqs))):
        views[run_id].params[key] = value
    query = select(RunTag.run_id, RunTag.key, RunTag.value)
    for run_id, key, value in s.execute(query.where(among(s, RunTag.run_seq, seqs))):
        views[run_id].tags[key] = value
    for run_id, items in summaries(s, runs).items():
        views[run_id].metrics = items
    links = select(RunArtifactLink).where(among(s, RunArtifactLink.run_id, list(views)))
    for link in s.scalars(links.order_by(RunArtifactLink.path)):
        views[link.run_id].artifacts.append(link)
    return [views[r.id] for r in runs]


def page_runs(s: Session, run_ids: Sequence[str]) -> list[Any]:
    """The runs of a search page as rows of RUN_COLUMNS, in the order given."""
    query = select(*RUN_COLUMNS).where(among(s, Run.id, run_ids))
    rows = {row.id: row for row in s.execute(query)}
    return [rows[r] for r in run_ids]


def runs_by_id(s: Session, workspace_id: str, run_ids: Sequence[str]) -> list[Run]:
    """The runs in the order asked (NOT_FOUND naming the first one missing)."""
    for index, run_id in enumerate(run_ids):
        if not _RUN_ID.fullmatch(run_id):
            raise InvalidArgument(
                f"run_ids[{index}]", "a run id (32 hex characters)", got=repr(run_id[:64])
            )
    found = {
        r.id: r
        for r in s.scalars(select(Run).where(Run.id.in_(run_ids), Run.workspace_id == workspace_id))
    }
    for index, run_id in enumerate(run_ids):
        if run_id not in found:
            raise NotFound(f"run_ids[{index}]: no run {run_id} in this workspace")
    return [found[r] for r in run_ids]
