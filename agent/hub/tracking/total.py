"""SearchRuns totals: counted, or estimated by the PostgreSQL planner when many runs match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.visitors import InternalTraversal

from modelfleet.agent.hub.tracking.recent import Recent

# Above this many expected matches the planner's estimate is returned instead of a count.
EXACT_UP_TO = 1_000


@dataclass(frozen=True, slots=True)
class Total:
    count: int
    estimate: bool = False


def total(
    s: Session,
    matching: Select[Any],
    page_rows: int,
    more: bool,
    estimates: Recent[str, int],
    key: str,
) -> Total:
    """How many runs `matching` selects, for a first page that holds `page_rows` of them.

    Counting every match is the costliest part of a search (a filter matching half of
    100,000 runs reads all their keys), so on PostgreSQL, when the planner expects more
    than EXACT_UP_TO matches, its estimate is returned instead (never below what the
    page already proved; `estimates` keeps it under `key` for a while). SQLite keeps no
    such statistics and always counts.
    """
    if not more:
        return Total(page_rows)
    if s.get_bind().dialect.name == "postgresql":
        estimated = estimates.get(key, lambda: _planned_rows(s, matching))
        if estimated > EXACT_UP_TO:
            return Total(max(estimated, page_rows + 1), estimate=True)
    count = select(func.count()).select_from(matching.subquery())
    return Total(int(s.execute(count).scalar_one()))


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <select>` as a statement SQLAlchemy caches like any other: a
    query shape is compiled once, not on every search (compiling cost ~1.5 ms)."""

    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement

    @property
    def _all_selected_columns(self) -> list[Any]:
        # Read when a cached compilation serves another Explain: the plan is one unnamed
        # column, read by position.
        return []


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _planned_rows(s: Session, query: Select[Any]) -> int:
    """The planner's row estimate for `query` (EXPLAIN plans it without running it)."""
    plan = s.execute(Explain(query)).scalar_one()
    document = orjson.loads(plan) if isinstance(plan, str | bytes) else plan
    return int(document[0]["Plan"]["Plan Rows"])
