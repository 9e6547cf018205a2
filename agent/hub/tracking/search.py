"""SearchRuns as SQLAlchemy expressions: filter clauses, ordering, keyset cursors, count.

Every order key sorts missing values last in either direction, and the run id breaks
ties, so a page boundary is a fixed point of a total order: pages never skip or repeat
runs while other runs are added.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, Select, and_, exists, false, or_, select
from sqlalchemy.orm import Session, aliased

from modelfleet.agent.hub.db.tracking_models import MetricSeries, Run, RunParam, RunTag
from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.agent.hub.tracking.filters import Clause, Operand, OrderKey
from modelfleet.agent.hub.tracking.recent import Recent
from modelfleet.agent.hub.tracking.total import Total
from modelfleet.proto.v1 import tracking_pb2

_COMPARE = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}
STATUS_NAMES = {
    name: value
    for name, value in tracking_pb2.RunStatus.items()
    if value != tracking_pb2.RUN_STATUS_UNSPECIFIED
}
_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "status": Run.status,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
    "name": Run.name,
}


def _where(column: Any, clause: Clause, field: str) -> ColumnElement[bool]:
    if clause.op == "LIKE":
        if not isinstance(clause.value, str):
            raise InvalidArgument(
                field, f"a quoted pattern after LIKE at position {clause.position}"
            )
        return column.like(clause.value)  # type: ignore[no-any-return]
    return _COMPARE[clause.op](column, clause.value)  # type: ignore[no-any-return]


def _time(value: str | float, field: str, position: int) -> datetime:
    if isinstance(value, float):
        return datetime.fromtimestamp(value / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            field,
            f"an ISO 8601 time like '2026-01-31T12:00:00Z' or epoch milliseconds "
            f"at position {position}",
            got=repr(value),
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def condition(
    clause: Clause, run_key: Any = None, field: str = "filter", *, probe: bool = False
) -> ColumnElement[bool]:
    """One clause as a boolean SQL expression over `Run` (and `run_key`, the integer run
    key of the query's driving table, `Run.seq` by default).

    Conditions on metrics, params and tags are uncorrelated `IN` subqueries: each reads
    its run keys once from a covering index, where a correlated EXISTS would be probed
    once per run (SQLite does not turn it into a semi-join; PostgreSQL does either way).
    With `probe`, for a query that already reads only a few thousand runs (a window of
    the order metric), they are that correlated EXISTS: SQLite would otherwise collect
    every run key a condition matches (half of all runs for `metrics.m > 0.5`) on each
    page.
    """
    key_column = Run.seq if run_key is None else run_key

    def keyed(table: Any, *where: ColumnElement[bool]) -> ColumnElement[bool]:
        if probe:
            return exists().where(table.run_seq == key_column, *where)
        return key_column.in_(select(table.run_seq).where(*where))

    kind, key, at = clause.operand.kind, clause.operand.key, clause.position
    if kind == "metrics":
        if not isinstance(clause.value, float) or clause.op == "LIKE":
            raise InvalidArgument(
                field,
                f"a number to compare metrics.{key} with at position {at}",
                repr(clause.value),
            )
        return keyed(
            MetricSeries, MetricSeries.key == key, _where(MetricSeries.last, clause, field)
        )
    if kind == "params":
        # A number compares numerically (runs whose value is not a number never match);
        # a quoted string compares the text.
        column = RunParam.value_num if isinstance(clause.value, float) else RunParam.value
        if clause.op == "LIKE" and column is RunParam.value_num:
            raise InvalidArgument(field, f"a quoted pattern after LIKE at position {at}")
        return keyed(RunParam, RunParam.key == key, _where(column, clause, field))
    if kind == "tags":
        if not isinstance(clause.value, str):
            raise InvalidArgument(field, f"a quoted string for tags.{key} at position {at}")
        return keyed(RunTag, RunTag.key == key, _where(RunTag.value, clause, field))
    column = _ATTRIBUTE_COLUMNS[kind]
    if kind == "status":
        name = str(clause.value).upper()
        if name not in STATUS_NAMES or clause.op not in ("=", "!="):
            raise InvalidArgument(
                field,
                f"status = or != one of {', '.join(STATUS_NAMES)} at position {at}",
                got=f"{clause.op} {clause.value!r}",
            )
        return _where(column, Clause(clause.operand, clause.op, STATUS_NAMES[name], at), field)
    if kind in ("start_time", "end_time"):
        if clause.op == "LIKE":
            raise InvalidArgument(field, f"a comparison, not LIKE, for {kind} at position {at}")
        when = _time(clause.value, field, at)
        return _COMPARE[clause.op](column, when)  # type: ignore[no-any-return]
    if not isinstance(clause.value, str):
        raise InvalidArgument(field, f"a quoted string for name at position {at}")
    return _where(column, clause, field)


@dataclass(frozen=True, slots=True)
class _Sort:
    expression: Any
    descending: bool
    kind: str


def _sorts(keys: Sequence[OrderKey]) -> tuple[list[_Sort], list[tuple[Operand, Any]]]:
    """Sort expressions plus the outer joins they need (one aliased table per key)."""
    sorts: list[_Sort] = []
    joins: list[tuple[Operand, Any]] = []
    for key in keys:
        kind = key.operand.kind
        if kind == "metrics":
            series = aliased(MetricSeries)
            joins.append((key.operand, series))
            sorts.append(_Sort(series.last, key.descending, "float"))
        elif kind == "params":
            param = aliased(RunParam)
            joins.append((key.operand, param))
            # Numbers in numeric order first, then the other values as text.
            sorts.append(_Sort(param.value_num, key.descending, "float"))
            sorts.append(_Sort(param.value, key.descending, "str"))
        elif kind == "tags":
            tag = aliased(RunTag)
            joins.append((key.operand, tag))
            sorts.append(_Sort(tag.value, key.descending, "str"))
        else:
            column = _ATTRIBUTE_COLUMNS[kind]
            typed = {"start_time": "time", "end_time": "time", "status": "int"}.get(kind, "str")
            sorts.append(_Sort(column, key.descending, typed))
    if not keys:
        sorts.append(_Sort(Run.start_time, True, "time"))
    return sorts, joins


def _after(sorts: list[_Sort], values: list[Any], run_id: str) -> ColumnElement[bool]:
    """Rows strictly after the cursor in the order (missing values last, then the id)."""
    options: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for sort, value in zip(sorts, values, strict=True):
        expr = sort.expression
        if value is None:
            # Nothing sorts after a missing value except other missing values' ids.
            equal.append(expr.is_(None))
            continue
        later = expr < value if sort.descending else expr > value
        options.append(and_(*equal, or_(later, expr.is_(None))))
        equal.append(expr == value)
    options.append(and_(*equal, Run.id > run_id))
    return or_(*options) if options else false()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    page: Select[Any]
    sorts: list[_Sort]


def sorts(order: Sequence[OrderKey]) -> list[_Sort]:
    """The sort keys of `order` (what a cursor holds), without building a query."""
    return _sorts(order)[0]


def _scope(workspace_id: str, experiment_ids: Sequence[str] | None) -> list[ColumnElement[bool]]:
    scope = [Run.workspace_id == workspace_id]
    if experiment_ids is not None:
        scope.append(Run.experiment_id.in_(experiment_ids) if experiment_ids else false())
    return scope


def matching(
    workspace_id: str, experiment_ids: Sequence[str] | None, clauses: Sequence[Clause]
) -> Select[Any]:
    """The matching runs' keys, unordered: what the total counts or estimates."""
    scope = _scope(workspace_id, experiment_ids)
    return select(Run.seq).where(*scope, *(condition(c) for c in clauses))


def build(
    workspace_id: str,
    experiment_ids: Sequence[str] | None,
    clauses: Sequence[Clause],
    order: Sequence[OrderKey],
    cursor: tuple[list[Any], str] | None,
    limit: int,
    *,
    present: bool | None = None,
    window: float | None = None,
    columns: Sequence[Any] = (),
) -> SearchQuery:
    """The page query: rows of the run id, the sort keys, then `columns` (of `Run`).

    With `present` set, only runs that have (True) or lack (False) the first order key's
    metric, so the first kind can be read in index order; with `window`, only runs whose
    value of that metric is at or before it in that order."""
    sorts, joins = _sorts(order)
    driver = joins[0][1] if joins and present is True else None
    scope = _scope(workspace_id, experiment_ids)
    query = select(Run.id, *(s.expression for s in sorts), *columns)
    if driver is not None:
        # Driven by the order metric's (key, last, run_seq) index, read in order and
        # stopped after `limit`; the filters are semi-joins on its run key.
        query = query.select_from(driver).join(Run, Run.seq == driver.run_seq)
        scope.append(driver.key == joins[0][0].key)
        if window is not None:
            scope.append(driver.last >= window if order[0].descending else driver.last <= window)
    else:
        query = query.select_from(Run)
    for index, (operand, table) in enumerate(joins):
        if table is driver:
            continue
        on = and_(table.run_seq == Run.seq, table.key == operand.key)
        query = query.outerjoin(table, on)
        if index == 0 and present is False:
            query = query.where(table.run_seq.is_(None))
    key_column = Run.seq if driver is None else driver.run_seq
    probe = driver is not None
    query = query.where(*scope, *(condition(c, key_column, probe=probe) for c in clauses))
    if cursor is not None:
        query = query.where(_after(sorts, *cursor))
    ordering = []
    for sort in sorts:
        expr = sort.expression
        ordering.append((expr.desc() if sort.descending else expr.asc()).nulls_last())
    return SearchQuery(query.order_by(*ordering, Run.id).limit(limit), sorts)


Make = Callable[[tuple[list[Any], str] | None, int, bool | None, float | None], SearchQuery]
# Index entries of the order metric examined first, and the growth factor when that window
# holds fewer than a page of matching runs.
FIRST_WINDOW = 4096
WINDOW_GROWTH = 8


# A window edge of a first page: the order metric's key and direction.
EdgeKey = tuple[str, bool]


def page_rows(
    s: Session,
    make: Make,
    order: Sequence[OrderKey],
    cursor: tuple[list[Any], str] | None,
    limit: int,
    first_edges: Recent[EdgeKey, float | None],
) -> list[Row[Any]]:
    """Up to `limit` rows after `cursor`.

    Ordered by a metric, the runs that have it come first, then the runs without it; both
    parts keep the one order the cursor describes. The first part is read in windows of
    the metric's index: the value FIRST_WINDOW entries past the cursor bounds the query,
    so it filters a few thousand runs whatever plan the database picks (a planner may
    otherwise hash-join every run with the metric and sort them). A window with fewer
    than `limit` matches is widened; it always ends after a whole group of equal values.

    Any edge gives the right rows: runs outside the window sort after every run in it,
    and a window with too few matches is widened (no edge: no bound at all). So a first
    page's edge may come from `first_edges`, recent rather than current.
    """
    if not order or order[0].operand.kind != "metrics":
        return list(s.execute(make(cursor, limit, None, None).page).all())
    rows: list[Row[Any]] = []
    in_missing_part = cursor is not None and cursor[0][0] is None
    span = FIRST_WINDOW
    while not in_missing_part:
        if cursor is None and span == FIRST_WINDOW:
            key = (order[0].operand.key, order[0].descending)
            edge = first_edges.get(key, lambda: _window_edge(s, order[0], None, FIRST_WINDOW))
        else:
            edge = _window_edge(s, order[0], cursor, span)
        rows = list(s.execute(make(cursor, limit, True, edge).page).all())
        if len(rows) >= limit or edge is None:
            break
        span *= WINDOW_GROWTH
    if len(rows) < limit:
        rest = make(cursor if in_missing_part else None, limit - len(rows), False, None)
        rows += s.execute(rest.page).all()
    return rows


def _window_edge(
    s: Session, key: OrderKey, cursor: tuple[list[Any], str] | None, span: int
) -> float | None:
    """The metric value `span` index entries past the cursor; None when fewer remain."""
    series = MetricSeries
    query = select(series.last).where(series.key == key.operand.key)
    if cursor is not None and cursor[0][0] is not None:
        value = cursor[0][0]
        query = query.where(series.last <= value if key.descending else series.last >= value)
    ordered = series.last.desc() if key.descending else series.last.asc()
    return s.execute(query.order_by(ordered).offset(span - 1).limit(1)).scalar()


# --- cursors ----------------------------------------------------------------------------


def fingerprint(*parts: object) -> str:
    """Ties a cursor to the query that made it, so it cannot be replayed on another."""
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:16]


def encode_cursor(query_id: str, sorts: list[_Sort], row: Sequence[Any], total: Total) -> str:
    """The position after `row` (a page row), and the total (found once, on the first page)."""
    values = []
    for sort, value in zip(sorts, row[1 : 1 + len(sorts)], strict=True):
        if value is not None and sort.kind == "time":
            value = value.astimezone(UTC).isoformat()
        values.append(value)
    payload = orjson.dumps(
        {"q": query_id, "v": values, "id": row[0], "n": total.count, "e": total.estimate}
    )
    return base64.urlsafe_b64encode(payload).decode()


def decode_cursor(
    token: str, query_id: str, sorts: list[_Sort]
) -> tuple[tuple[list[Any], str], Total]:
    field = "page.page_token"
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        values, run_id = doc["v"], str(doc["id"])
        total = Total(int(doc["n"]), bool(doc.get("e", False)))
        if doc["q"] != query_id or len(values) != len(sorts):
            raise InvalidArgument(field, "a token from the same search (filter and order)")
        parsed = [
            _parse_value(sort.kind, v) if v is not None else None
            for sort, v in zip(sorts, values, strict=True)
        ]
    except InvalidArgument:
        raise
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(field, "a token from a previous response") from None
    return (parsed, run_id), total


def _parse_value(kind: str, value: Any) -> Any:
    if kind == "time":
        return datetime.fromisoformat(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return str(value)
