"""Runs as table rows and metric histories as curves, prepared off the GUI thread.

The runs table is server-sorted and server-filtered: a column knows its SearchRuns order-by
expression, and a page of runs is rendered to display strings here (in the worker), so the
table model only indexes lists when Qt paints. The table keeps each run packed into plain
tuples (`pack_run`), which the cyclic garbage collector stops tracking the first time it sees
them: as `Run` objects (two plus one per metric each) 100,000 loaded runs made each of its
full passes walk millions of objects, with the interpreter lock held.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from modelfleet.client import HubClient, MetricHistory, MetricSummary, Run, RunArtifact, RunStatus

FloatArray = npt.NDArray[np.float64]
ATTRIBUTES = ("name", "status", "start_time")
ENTITIES = ("metrics", "params", "tags")
# Keys the filter grammar takes bare; anything else goes in backquotes.
_BARE_KEY = re.compile(r"^[A-Za-z0-9_\-./]+$")
# Columns a first page may add beyond the fixed ones: wide tables stay cheap to paint.
MAX_KEY_COLUMNS = 40
YIELD_EVERY = 50


@dataclass(frozen=True)
class RunColumn:
    """One column of the runs table: an attribute, or `metrics`/`params`/`tags` with a key."""

    kind: str
    key: str = ""

    @property
    def header(self) -> str:
        if self.kind in ATTRIBUTES:
            return {"name": "Run", "status": "Status", "start_time": "Started (UTC)"}[self.kind]
        return f"{self.kind[:-1]}: {self.key}" if self.kind != "metrics" else self.key

    @property
    def expression(self) -> str:
        """The operand in SearchRuns' filter and order-by grammar."""
        if self.kind in ATTRIBUTES:
            return self.kind
        key = self.key if _BARE_KEY.match(self.key) else f"`{self.key}`"
        return f"{self.kind}.{key}"

    def order_by(self, descending: bool) -> str:
        return f"{self.expression} {'DESC' if descending else 'ASC'}"

    def cell(self, run: Run) -> str:
        if self.kind == "name":
            return run.name or run.id[:12]
        if self.kind == "status":
            return run.status.value if run.status else "-"
        if self.kind == "start_time":
            when = run.start_time
            return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else "-"
        if self.kind == "metrics":
            summary = run.metrics.get(self.key)
            return f"{summary.last:.6g}" if summary is not None else ""
        source = run.params if self.kind == "params" else run.tags
        return source.get(self.key, "")


FIXED_COLUMNS = tuple(RunColumn(kind) for kind in ATTRIBUTES)
DEFAULT_ORDER = RunColumn("start_time").order_by(descending=True)


def columns_for(runs: Sequence[Run]) -> tuple[RunColumn, ...]:
    """The fixed columns, then every metric, param and tag key found in `runs` (sorted)."""
    metrics = sorted({k for r in runs for k in r.metrics})
    params = sorted({k for r in runs for k in r.params})
    tags = sorted({k for r in runs for k in r.tags if not k.startswith("modelfleet.")})
    keyed = [RunColumn("metrics", k) for k in metrics]
    keyed += [RunColumn("params", k) for k in params]
    keyed += [RunColumn("tags", k) for k in tags]
    return FIXED_COLUMNS + tuple(keyed[:MAX_KEY_COLUMNS])


@dataclass(frozen=True)
class RunQuery:
    """What the table shows: experiments (ids or names), a filter and one order-by."""

    experiments: tuple[str, ...] = ()
    filter: str = ""
    order_by: str = DEFAULT_ORDER


# A run as one tuple of strings, numbers, datetimes and tuples of those (params, tags,
# metric summaries and artifacts column by column).
PackedRun = tuple[
    str, str, str, str | None, datetime | None, datetime | None, str | None, str,
    tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...],
    tuple[str, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[int, ...],
    tuple[int, ...],
    tuple[str, ...], tuple[str, ...], tuple[int, ...],
]  # fmt: skip


def pack_run(run: Run) -> PackedRun:
    """`run` in two levels of tuples holding no tracked object: the collector untracks the
    columns in its first pass over them and the row in its second (`unpack_run` reverses)."""
    m, a = run.metrics.values(), run.artifacts
    return (
        run.id, run.experiment_id, run.name, run.status.value if run.status else None,
        run.start_time, run.end_time, run.parent_run_id, run.created_by,
        tuple(run.params), tuple(run.params.values()), tuple(run.tags), tuple(run.tags.values()),
        tuple([s.key for s in m]), tuple([s.last for s in m]), tuple([s.min for s in m]),
        tuple([s.max for s in m]), tuple([s.count for s in m]), tuple([s.last_step for s in m]),
        tuple([f.path for f in a]), tuple([f.sha256 for f in a]), tuple([f.size for f in a]),
    )  # fmt: skip


def unpack_run(packed: PackedRun) -> Run:
    (run_id, experiment, name, status, start, end, parent, by, param_keys, param_values,
     tag_keys, tag_values, *metrics, paths, digests, sizes) = packed  # fmt: skip
    return Run(
        run_id, experiment, name, RunStatus(status) if status else None, start, end,
        dict(zip(param_keys, param_values, strict=True)),
        dict(zip(tag_keys, tag_values, strict=True)),
        {s[0]: MetricSummary(*s) for s in zip(*metrics, strict=True)},
        tuple(RunArtifact(*f) for f in zip(paths, digests, sizes, strict=True)), parent, by,
    )  # fmt: skip


@dataclass(frozen=True)
class RunRows:
    """One page of runs (packed) with their cells rendered for `columns`."""

    runs: tuple[PackedRun, ...]
    cells: list[tuple[str, ...]]
    columns: tuple[RunColumn, ...]
    next_page_token: str | None
    total: int
    # `total` is the hub's estimate (PostgreSQL, past ~1,000 matches), not a count.
    total_is_estimate: bool = False


def search_page(
    client: HubClient,
    query: RunQuery,
    columns: tuple[RunColumn, ...] | None,
    page_token: str | None,
    page_size: int,
    workspace: str | None = None,
) -> RunRows:
    """One SearchRuns page; `columns=None` (a first page) picks them from the page's keys."""
    page = client.search_runs(
        query.experiments, query.filter, [query.order_by] if query.order_by else [],
        page_size=page_size, page_token=page_token, workspace=workspace,
    )  # fmt: skip
    chosen = columns if columns is not None else columns_for(page.runs)
    cells: list[tuple[str, ...]] = []
    packed: list[PackedRun] = []
    for start in range(0, len(page.runs), YIELD_EVERY):
        # Let a waiting GUI thread take the GIL now rather than after the switch interval.
        time.sleep(0)
        chunk = page.runs[start : start + YIELD_EVERY]
        cells.extend(tuple(column.cell(run) for column in chosen) for run in chunk)
        packed.extend(pack_run(run) for run in chunk)
    return RunRows(
        tuple(packed), cells, chosen, page.next_page_token, page.total_count,
        page.total_is_estimate,
    )  # fmt: skip


@dataclass(frozen=True)
class Curve:
    """A metric's buckets as arrays: each bucket's last point and its min/max envelope."""

    steps: FloatArray
    values: FloatArray
    lower: FloatArray
    upper: FloatArray
    total_points: int

    @property
    def downsampled(self) -> bool:
        return self.total_points > len(self.steps)


def curve_from_history(history: MetricHistory) -> Curve:
    buckets = history.buckets
    table = np.array([(b.step, b.value, b.min, b.max) for b in buckets], dtype=np.float64).reshape(
        len(buckets), 4
    )
    return Curve(
        table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(), table[:, 3].copy(),
        history.total_points,
    )  # fmt: skip
