"""Turn a closed window into a DriftReport: per-feature statistics and the dataset verdict."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from modelfleet.drift import _stats
from modelfleet.drift._config import (
    CHI_SQUARE,
    JENSEN_SHANNON,
    KS,
    P_VALUE_METHODS,
    PSI,
    WASSERSTEIN,
    Z_TEST,
)
from modelfleet.drift._plan import reference_value_counts
from modelfleet.drift._report import DriftReport, FeatureDrift, Histogram
from modelfleet.drift._window import DriftWindow
from modelfleet.profile import FeatureProfile

IntArray = npt.NDArray[np.int64]


def sturges_bins(n: int, limit: int) -> int:
    """numpy's 'sturges' bin count for n values: ceil(log2(n) + 1), at most `limit`."""
    return max(1, min(limit, math.ceil(math.log2(max(n, 1)) + 1)))


def evaluate(window: DriftWindow) -> DriftReport:
    """Judge every feature of a window; nothing here rescans raw history."""
    plan = window.plan
    enough = window.n_rows >= plan.config.min_window_rows
    results = {}
    for i, feature in enumerate(plan.numeric):
        results[feature.name] = _numerical(window, i, feature, enough)
    for i, feature in enumerate(plan.categorical):
        results[feature.name] = _categorical(window, i, feature, enough)
    features = tuple(results[name] for name in plan.names)
    judged = [f for f in features if f.judged]
    drifted = sum(f.drifted for f in judged)
    share = drifted / len(judged) if judged else 0.0
    return DriftReport(
        started_at=window.started_at,
        ended_at=window.ended_at,
        n_rows=window.n_rows,
        judged=bool(judged),
        drift_share=plan.config.drift_share,
        n_judged=len(judged),
        n_drifted=drifted,
        share_drifted=share,
        dataset_drifted=bool(judged) and share >= plan.config.drift_share,
        features=features,
    )


def _coarse(
    reference: IntArray, inside: IntArray, below: int, above: int, bins: int
) -> tuple[IntArray, IntArray, npt.NDArray[np.intp]]:
    """Group fine bins into `bins` near-equal-width buckets; out-of-range buckets when used."""
    fine = reference.shape[0]
    starts = np.unique(np.round(np.arange(bins) * fine / bins).astype(np.intp))
    ref = np.add.reduceat(reference, starts)
    cur = np.add.reduceat(inside, starts)
    if below:
        ref, cur = np.concatenate([[0], ref]), np.concatenate([[below], cur])
    if above:
        ref, cur = np.concatenate([ref, [0]]), np.concatenate([cur, [above]])
    return ref, cur, starts


def _numerical(window: DriftWindow, i: int, feature: FeatureProfile, enough: bool) -> FeatureDrift:
    plan = window.plan
    method, threshold = plan.methods[feature.name]
    k = plan.layout.bins
    slots = window.slot_counts[i]
    below, inside, above = int(slots[0]), slots[1 : k + 1], int(slots[k + 1])
    n_valid = below + int(inside.sum()) + above
    reference = plan.reference_bins[i]
    exact = feature.sample_is_complete and window.reservoir_is_complete
    bins = sturges_bins(feature.n_valid + n_valid, k)
    ref_coarse, cur_coarse, starts = _coarse(reference, inside, below, above, bins)
    edges = plan.layout.edges(i)
    histogram = Histogram(
        reference=_shares(np.add.reduceat(reference, starts)),
        current=_shares(np.add.reduceat(inside, starts), n_valid),
        edges=tuple(float(e) for e in edges[np.append(starts, k)]),
        below=below / n_valid if n_valid else 0.0,
        above=above / n_valid if n_valid else 0.0,
    )
    value_row = np.flatnonzero(plan.low_index == i)
    if value_row.size:
        counts = window.low_counts[value_row[0], : len(feature.values or ())]
        cur_values = np.append(counts, n_valid - counts.sum())
        ref_values = reference_value_counts(feature)
        labels = (*(f"{v:g}" for v in feature.values or ()), "other")
        histogram = Histogram(
            reference=_shares(ref_values), current=_shares(cur_values, n_valid), labels=labels
        )
    statistic: float | None = None
    note = _not_judged(enough, feature.n_valid, n_valid)
    if note is None:
        std = feature.std or 0.0
        if method == KS:
            statistic = (
                _stats.ks_exact(feature.sample, window.reservoir_column(i))
                if exact
                else _stats.ks_binned(
                    _with_tails(reference), np.concatenate([[below], inside, [above]])
                )
            )
        elif method == WASSERSTEIN:
            statistic = (
                _stats.wasserstein_exact(feature.sample, window.reservoir_column(i), std)
                if exact
                else _stats.wasserstein_binned(
                    edges,
                    reference,
                    np.concatenate([[below], inside, [above]]),
                    float(window.below_distance[i]),
                    float(window.above_distance[i]),
                    std,
                )
            )
        else:
            exact = True  # counts on buckets are exact; only the buckets differ from raw values
            if value_row.size:
                statistic = _on_counts(method, ref_values, cur_values)
            else:
                statistic = _on_counts(method, ref_coarse, cur_coarse)
    n_rows = window.n_rows
    return _result(
        feature,
        method,
        threshold,
        statistic,
        exact,
        note,
        n_rows,
        n_valid,
        missing=int(slots[k + 2]),
        infinite=int(slots[k + 3] + slots[k + 4]),
        outside=below + above,
        moments=(
            float(window.mean[i]) if n_valid else None,
            math.sqrt(window.m2[i] / n_valid) if n_valid else None,
            float(window.minimum[i]) if n_valid else None,
            float(window.maximum[i]) if n_valid else None,
        ),
        histogram=histogram,
    )


def _categorical(
    window: DriftWindow, i: int, feature: FeatureProfile, enough: bool
) -> FeatureDrift:
    method, threshold = window.plan.methods[feature.name]
    current = window.category_counts[i]
    reference = reference_value_counts(feature)
    n_valid = int(current.sum())
    note = _not_judged(enough, feature.n_valid, n_valid)
    statistic = None if note is not None else _on_counts(method, reference, current)
    histogram = Histogram(
        reference=_shares(reference),
        current=_shares(current, n_valid),
        labels=(*(str(v) for v in feature.values or ()), "other"),
    )
    return _result(
        feature,
        method,
        threshold,
        statistic,
        True,
        note,
        window.n_rows,
        n_valid,
        missing=int(window.category_missing[i]),
        infinite=0,
        outside=int(current[-1]),
        moments=(None, None, None, None),
        histogram=histogram,
    )


def _on_counts(method: str, reference: IntArray, current: IntArray) -> float:
    if method == PSI:
        return _stats.psi(reference, current)
    if method == JENSEN_SHANNON:
        return _stats.jensen_shannon(reference, current)
    if method == CHI_SQUARE:
        return _stats.chi_square(reference, current)
    if method == Z_TEST:
        return _stats.z_test(reference, current)
    if method == KS:
        return _stats.ks_binned(reference, current)
    raise ValueError(f"method: {method} cannot run on category counts")


def _with_tails(reference: IntArray) -> IntArray:
    return np.concatenate([[0], reference, [0]])


def _not_judged(enough: bool, reference_valid: int, current_valid: int) -> str | None:
    if not enough:
        return "window below min_window_rows"
    if reference_valid == 0:
        return "no valid reference values"
    if current_valid == 0:
        return "no valid values in window"
    return None


def _shares(counts: IntArray, total: int | None = None) -> tuple[float, ...]:
    denominator = float(counts.sum()) if total is None else float(total)
    if denominator == 0:
        return tuple(0.0 for _ in counts)
    return tuple(float(c) / denominator for c in counts)


def _result(
    feature: FeatureProfile,
    method: str,
    threshold: float,
    statistic: float | None,
    exact: bool,
    note: str | None,
    n_rows: int,
    n_valid: int,
    *,
    missing: int,
    infinite: int,
    outside: int,
    moments: tuple[float | None, float | None, float | None, float | None],
    histogram: Histogram,
) -> FeatureDrift:
    if statistic is not None and math.isnan(statistic):
        statistic, note = None, "statistic undefined for this data"
    judged = statistic is not None
    if statistic is None:
        drifted = False
    elif method in P_VALUE_METHODS:
        drifted = statistic <= threshold
    else:
        drifted = statistic >= threshold
    rows = max(n_rows, 1)
    reference_rows = max(feature.count, 1)
    return FeatureDrift(
        name=feature.name,
        kind=feature.kind,
        method=method,
        threshold=threshold,
        statistic=statistic,
        drifted=drifted,
        judged=judged,
        exact=exact and judged,
        note=note,
        n_rows=n_rows,
        n_valid=n_valid,
        missing_share=missing / rows,
        inf_share=infinite / rows,
        out_of_range_share=outside / n_valid if n_valid else 0.0,
        reference_missing_share=feature.n_missing / reference_rows,
        reference_inf_share=(feature.n_posinf + feature.n_neginf) / reference_rows,
        mean=moments[0],
        std=moments[1],
        minimum=moments[2],
        maximum=moments[3],
        reference_mean=feature.mean,
        reference_std=feature.std,
        histogram=histogram,
    )
