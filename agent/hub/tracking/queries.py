"""Tracking lookups, always scoped by workspace, and whole runs loaded in one or two queries."""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypedDict, TypeVar

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Double,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
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


@dataclass(slots=True)
class MetricColumns:
    """A run's metric summaries as columns, in key order (what a `MetricTable` carries): a
    page of runs is built from its JSON aggregates without an object per summary."""

    keys: list[str] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    min: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    last_step: list[int] = field(default_factory=list)

    def add(self, key: str, last: float, low: float, high: float, count: int, step: int) -> None:
        self.keys.append(key)
        self.last.append(last)
        self.min.append(low)
        self.max.append(high)
        self.count.append(count)
        self.last_step.append(step)

    def by_key(self) -> MetricColumns:
        """The same summaries in key order (a no-op when they already are)."""
        keys = self.keys
        if keys == sorted(keys):  # keys are unique; sorting a sorted list costs ~1 us
            return self
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return MetricColumns(
            _pick(keys, order),
            _pick(self.last, order),
            _pick(self.min, order),
            _pick(self.max, order),
            _pick(self.count, order),
            _pick(self.last_step, order),
        )


_T = TypeVar("_T")


def _pick(column: list[_T], order: list[int]) -> list[_T]:
    return [column[i] for i in order]


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


class ArtifactRef(TypedDict):
    path: str
    sha256: str
    size: int


@dataclass
class RunView:
    run: RunFields
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: MetricColumns = field(default_factory=MetricColumns)
    artifacts: list[ArtifactRef] = field(default_factory=list)


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


def run_views(s: Session, runs: Sequence[RunFields]) -> list[RunView]:
    """Runs with params, tags, metric summaries and artifacts, in one statement for any
    number of runs (plain tuples, no ORM objects)."""
    if not runs:
        return []
    details = _details(s, [r.seq for r in runs])
    return [_view(r, details.get(r.seq)) for r in runs]


def page_views(s: Session, run_ids: Sequence[str]) -> list[RunView]:
    """The runs of a search page, whole, in the order given, on SQLite: the runs, then
    their details as one UNION ALL (PostgreSQL reads them with the page: `PAGE_COLUMNS`)."""
    if not run_ids:
        return []
    runs = {row.id: row for row in s.execute(select(*RUN_COLUMNS).where(Run.id.in_(run_ids)))}
    details = _details(s, [runs[r].seq for r in run_ids])
    return [_view(runs[r], details.get(runs[r].seq)) for r in run_ids]


@dataclass(slots=True)
class _Details:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: MetricColumns = field(default_factory=MetricColumns)
    artifacts: list[ArtifactRef] = field(default_factory=list)


def _view(run: RunFields, details: _Details | None) -> RunView:
    if details is None:
        return RunView(run)
    return RunView(run, details.params, details.tags, details.metrics, details.artifacts)


# Kinds of the rows of `_details`' UNION ALL, in the order they sort within a run.
_PARAM, _TAG, _METRIC, _ARTIFACT = 0, 1, 2, 3


def _in_keys(column: Any, postgres: bool) -> ColumnElement[bool]:
    """`column IN :keys`: one array parameter on PostgreSQL, expanded on SQLite."""
    if postgres:
        return column == any_(bindparam("keys", type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(bindparam("keys", expanding=True))  # type: ignore[no-any-return]


@functools.cache
def _details_query(postgres: bool) -> CompoundSelect[*tuple[Any, ...]]:
    """Built once per dialect: constructing it costs more than running it."""
    text, number, integer = (cast(null(), t) for t in (Text, Double, BigInteger))
    parts = [
        select(literal(_PARAM), RunParam.run_seq, RunParam.key, RunParam.value,
               number, number, number, integer, integer)
        .where(_in_keys(RunParam.run_seq, postgres)),
        select(literal(_TAG), RunTag.run_seq, RunTag.key, RunTag.value,
               number, number, number, integer, integer)
        .where(_in_keys(RunTag.run_seq, postgres)),
        select(literal(_METRIC), MetricSeries.run_seq, MetricSeries.key, text,
               MetricSeries.last, MetricSeries.min, MetricSeries.max, MetricSeries.count,
               MetricSeries.last_step)
        .where(_in_keys(MetricSeries.run_seq, postgres)),
        select(literal(_ARTIFACT), Run.seq, RunArtifactLink.path, RunArtifactLink.sha256,
               number, number, number, RunArtifactLink.size, integer)
        .join(Run, Run.id == RunArtifactLink.run_id)
        .where(_in_keys(Run.seq, postgres)),
    ]  # fmt: skip
    return union_all(*parts).order_by(literal_column("1"), literal_column("3"))


def _details(s: Session, seqs: Sequence[int]) -> dict[int, _Details]:
    """Params, tags, summaries (by key) and artifacts (by path) of runs, keyed by run key,
    as one UNION ALL of uniform rows: (kind, run key, key, text, last, min, max, count,
    last step)."""
    query = _details_query(s.get_bind().dialect.name == "postgresql")
    out: dict[int, _Details] = {seq: _Details() for seq in seqs}
    for kind, seq, key, text, last, low, high, count, last_step in s.execute(
        query, {"keys": list(seqs)}
    ):
        found = out[seq]
        if kind == _METRIC:
            found.metrics.add(key, last, low, high, count, last_step)
        elif kind == _PARAM:
            found.params[key] = text
        elif kind == _TAG:
            found.tags[key] = text
        else:
            found.artifacts.append(ArtifactRef(path=key, sha256=text, size=count))
    return out


def _aggregated_columns() -> list[ColumnElement[Any]]:
    """PostgreSQL: a run's details as JSON text, correlated to `Run`.

    A run's summaries are one JSON array per column (`json_agg` of a column is cheap),
    read from a subquery in index order: records or `json_build_array` per summary cost
    the server several times as much (a type lookup per row), and an ORDER BY inside
    the aggregates a sort per run."""
    p, t, m, a = RunParam, RunTag, MetricSeries, RunArtifactLink
    params = select(func.json_object_agg(p.key, p.value)).where(p.run_seq == Run.seq)
    tags = select(func.json_object_agg(t.key, t.value)).where(t.run_seq == Run.seq)
    metric = (
        select(m.key, m.last, m.min, m.max, m.count, m.last_step)
        .where(m.run_seq == Run.seq)
        .order_by(m.key)
        .correlate(Run)
        .subquery("m")
    )
    link = (
        select(a.path, a.sha256, a.size)
        .where(a.run_id == Run.id)
        .order_by(a.path)
        .correlate(Run)
        .subquery("a")
    )
    metrics = select(func.json_build_array(*(func.json_agg(column) for column in metric.c)))
    artifacts = select(func.json_agg(link.table_valued()))
    return [
        cast(q.correlate(Run).scalar_subquery(), Text) for q in (params, tags, metrics, artifacts)
    ]


# PostgreSQL: what a search page query selects after its sort keys, so each run comes back
# whole in the page's own statement (`page_view` reads them). Built once: constructing
# it costs more than running it.
PAGE_COLUMNS: tuple[Any, ...] = (*RUN_COLUMNS, *_aggregated_columns())


class RunRow(NamedTuple):
    """The `RUN_COLUMNS` of a run, from a page row."""

    id: str
    seq: int
    experiment_id: str
    name: str
    status: int
    start_time: datetime
    end_time: datetime | None
    parent_run_id: str | None
    created_by: str


def page_view(columns: Sequence[Any]) -> RunView:
    """A run from the `PAGE_COLUMNS` of a page row."""
    n = len(RUN_COLUMNS)
    return _view_aggregated(RunRow(*columns[:n]), *columns[n:])


def _view_aggregated(
    run: RunFields, params: str | None, tags: str | None, metrics: str | None, links: str | None
) -> RunView:
    """A run from its aggregated row: JSON parsed with orjson (metric values are always
    finite, and PostgreSQL writes floats with round-trip digits, so JSON holds them
    exactly). Summaries by key and artifacts by path, whatever order the server fed the
    aggregates in."""
    columns = orjson.loads(metrics) if metrics else None
    summaries = MetricColumns(*columns).by_key() if columns and columns[0] else MetricColumns()
    artifacts: list[ArtifactRef] = orjson.loads(links) if links else []
    artifacts.sort(key=_by_path)
    return RunView(
        run,
        orjson.loads(params) if params else {},
        orjson.loads(tags) if tags else {},
        summaries,
        artifacts,
    )


_by_path = operator.itemgetter("path")


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
