"""Hub monitoring history for the desktop: metric roll-ups as chart columns, and drift windows
as a features x windows matrix of statistics normalised by their thresholds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from modelfleet.client._drift import DriftWindowRecord
from modelfleet.client._fleet import MetricsPoint
from modelfleet.desktop.series import COLUMNS, ERRORS, P50, P95, P99, THROUGHPUT, TIME, FloatArray
from modelfleet.drift import CHI_SQUARE, KS, Z_TEST, FeatureDrift, Histogram

# Buckets asked of QueryMetrics per range: fine enough to see spikes, far under its cap.
MAX_BUCKETS = 2000
MIN_STEP_S = 10  # agents roll up every 10 s: finer buckets would only be empty
P_VALUE_METHODS = frozenset({KS, CHI_SQUARE, Z_TEST})
# Colour scale of the heatmap: 0 = no difference, 1 = at the threshold, capped above.
SCORE_CAP = 3.0


def step_for(since: datetime, until: datetime) -> int:
    """A bucket width (multiple of 10 s) giving at most MAX_BUCKETS over the range."""
    span = max((until - since).total_seconds(), 1.0)
    step = max(MIN_STEP_S, math.ceil(span / MAX_BUCKETS))
    return int(math.ceil(step / MIN_STEP_S) * MIN_STEP_S)


def history_columns(points: Sequence[MetricsPoint], step_s: int) -> dict[int, FloatArray]:
    """Per model version, the series columns the live charts draw (time, req/s, p50/p95/p99
    in ms, errors per bucket), sorted by time."""
    by_version: dict[int, list[MetricsPoint]] = {}
    for point in points:
        if point.time is not None:
            by_version.setdefault(point.model_version, []).append(point)
    out: dict[int, FloatArray] = {}
    for version, rows in sorted(by_version.items()):
        rows.sort(key=lambda p: p.time or datetime.min)
        columns = np.empty((COLUMNS, len(rows)))
        columns[TIME] = [p.time.timestamp() for p in rows if p.time is not None]
        columns[THROUGHPUT] = [p.requests / step_s for p in rows]
        columns[P50] = [p.latency_p50 * 1000.0 for p in rows]
        columns[P95] = [p.latency_p95 * 1000.0 for p in rows]
        columns[P99] = [p.latency_p99 * 1000.0 for p in rows]
        columns[ERRORS] = [float(p.errors) for p in rows]
        out[version] = columns
    return out


def drift_score(feature: FeatureDrift) -> float:
    """The statistic relative to its threshold: 1 at the threshold, larger = more drift.

    Distances divide by the threshold; p-values (smaller = more drift) compare logarithms,
    so p = threshold gives 1 and p = 1 gives 0. NaN when the window was not judged.
    """
    value, threshold = feature.statistic, feature.threshold
    if value is None or not feature.judged or not math.isfinite(value) or threshold <= 0:
        return math.nan
    if feature.method in P_VALUE_METHODS:
        if threshold >= 1.0:
            return math.nan
        p = min(max(value, 1e-300), 1.0)
        return min(math.log(p) / math.log(threshold), SCORE_CAP)
    return min(value / threshold, SCORE_CAP)


@dataclass(frozen=True)
class DriftCell:
    """One feature in one window, as the detail pane shows it."""

    feature: str
    window: int
    agent_id: str
    model_version: int
    started_at: float
    ended_at: float
    method: str
    statistic: float | None
    threshold: float
    drifted: bool
    judged: bool
    note: str
    histogram: Histogram | None

    @property
    def p_value(self) -> bool:
        return self.method in P_VALUE_METHODS


@dataclass(frozen=True)
class DriftMatrix:
    """Windows oldest first; `scores[f, w]` per feature f and window w (NaN: not judged)."""

    features: tuple[str, ...]
    windows: tuple[DriftWindowRecord, ...]
    scores: FloatArray
    drifted: np.ndarray

    @classmethod
    def of(cls, records: Sequence[DriftWindowRecord]) -> DriftMatrix:
        windows = tuple(sorted(records, key=lambda r: (r.report.ended_at, r.agent_id)))
        names: dict[str, int] = {}
        for record in windows:
            for feature in record.report.features:
                names.setdefault(feature.name, len(names))
        scores = np.full((len(names), len(windows)), np.nan)
        drifted = np.zeros((len(names), len(windows)), dtype=bool)
        for w, record in enumerate(windows):
            for feature in record.report.features:
                f = names[feature.name]
                scores[f, w] = drift_score(feature)
                drifted[f, w] = feature.drifted
        return cls(tuple(names), windows, scores, drifted)

    @property
    def empty(self) -> bool:
        return not self.windows or not self.features

    def cell(self, feature: int, window: int) -> DriftCell:
        record = self.windows[window]
        name = self.features[feature]
        report = record.report
        found = next((f for f in report.features if f.name == name), None)
        return DriftCell(
            feature=name, window=window, agent_id=record.agent_id,
            model_version=record.model_version, started_at=report.started_at,
            ended_at=report.ended_at,
            method=found.method if found else "",
            statistic=found.statistic if found else None,
            threshold=found.threshold if found else 0.0,
            drifted=found.drifted if found else False,
            judged=found.judged if found else False,
            note=(found.note or "") if found else "not in this window",
            histogram=found.histogram if found else None,
        )  # fmt: skip


def describe_cell(cell: DriftCell) -> str:
    """ "f03, window 12:00:00-12:05:00 (agent 1a2b3c4d, v1): wasserstein 0.31 vs threshold 0.1
    -> DRIFTED"."""
    span = (
        f"{datetime.fromtimestamp(cell.started_at):%Y-%m-%d %H:%M:%S}"
        f"-{datetime.fromtimestamp(cell.ended_at):%H:%M:%S}"
    )
    head = f"{cell.feature}, window {span} (agent {cell.agent_id[:8]}, v{cell.model_version})"
    if cell.statistic is None or not cell.judged:
        return f"{head}: not judged{f' ({cell.note})' if cell.note else ''}"
    kind = "p-value" if cell.p_value else "distance"
    rule = "<" if cell.p_value else ">="
    verdict = "DRIFTED" if cell.drifted else "no drift"
    return (
        f"{head}: {cell.method} {kind} {cell.statistic:.4g}, drifted when {rule} "
        f"{cell.threshold:g} -> {verdict}"
    )


def histogram_axis(histogram: Histogram) -> tuple[FloatArray, list[str]]:
    """Bucket edges for a step plot (n + 1 values) and, for categories, their tick labels."""
    n = len(histogram.reference)
    if histogram.edges is not None and len(histogram.edges) == n + 1:
        return np.asarray(histogram.edges, dtype=np.float64), []
    labels = list(histogram.labels or ())
    return np.arange(n + 1, dtype=np.float64), labels


def default_range(span: timedelta) -> tuple[datetime, datetime]:
    """[now - span, now] in UTC."""
    until = datetime.now(UTC)
    return until - span, until
