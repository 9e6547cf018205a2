"""Drift statistics on counts and raw samples; formulas follow Evidently 0.7 (docs/drift.md).

scipy is imported inside the functions that need it, never at module import: scipy.stats
costs a process about 80 MB and scipy.special about 30 MB, and a serving agent imports this
module at start. PSI, Jensen-Shannon and exact Wasserstein (the defaults for references of
more than 1,000 rows) are plain numpy; chi-square and the z-test call the scipy.special
function that scipy.stats wraps (same result); only KS needs scipy.stats.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64] | FloatArray

# Wasserstein is divided by the reference std, floored so a constant reference cannot divide by 0.
STD_FLOOR = 0.001


def ks_exact(reference: FloatArray, current: FloatArray) -> float:
    """Two-sample KS p-value on raw values: scipy.stats.ks_2samp (method 'auto')."""
    from scipy import stats

    return float(stats.ks_2samp(reference, current).pvalue)


def ks_binned(reference: Counts, current: Counts) -> float:
    """KS p-value from counts on shared ordered bins: D at the bin edges, Smirnov's asymptotic law.

    This is ks_2samp's 'asymp' branch with D taken at bin edges (the sup over the bins).
    """
    from scipy import stats

    n, m = float(reference.sum()), float(current.sum())
    d = float(np.max(np.abs(np.cumsum(reference) / n - np.cumsum(current) / m)))
    big, small = max(n, m), min(n, m)
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def wasserstein_exact(reference: FloatArray, current: FloatArray, reference_std: float) -> float:
    """Wasserstein-1 distance on raw values divided by max(reference std, 0.001).

    The integral of |F_ref - F_cur| between consecutive pooled values, as
    scipy.stats.wasserstein_distance computes it (same steps, same result).
    """
    ref, cur = np.sort(reference), np.sort(current)
    pooled = np.sort(np.concatenate([ref, cur]), kind="mergesort")
    steps = pooled[:-1]
    ref_cdf = np.searchsorted(ref, steps, side="right") / ref.size
    cur_cdf = np.searchsorted(cur, steps, side="right") / cur.size
    distance = float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(pooled)))
    return distance / max(reference_std, STD_FLOOR)


def wasserstein_binned(
    edges: FloatArray,
    reference: Counts,
    current: Counts,
    below_distance: float,
    above_distance: float,
    reference_std: float,
) -> float:
    """Wasserstein-1 from fine-bin counts (uniform within a bin) plus exact tails.

    `reference`/`current` are in-range counts per bin; `current` values outside [edges[0],
    edges[-1]] contribute `below_distance` = sum(lo - x) and `above_distance` = sum(x - hi),
    which is exactly their share of the integral of |F_ref - F_cur|.
    """
    n = float(reference.sum())
    below = float(current[0])
    above = float(current[-1])
    inside = current[1:-1]
    m = float(inside.sum()) + below + above
    ref_cdf = np.concatenate([[0.0], np.cumsum(reference) / n])
    cur_cdf = (below + np.concatenate([[0.0], np.cumsum(inside)])) / m
    gap = ref_cdf - cur_cdf
    a, b = gap[:-1], gap[1:]
    width = np.diff(edges)
    same_sign = a * b >= 0
    total = np.abs(a) + np.abs(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(total > 0, (a * a + b * b) / (2 * total), 0.0)
    area = width * np.where(same_sign, total / 2, crossing)
    distance = float(area.sum()) + (below_distance + above_distance) / m
    return distance / max(reference_std, STD_FLOOR)


def _fill_zeros(percents: FloatArray) -> FloatArray:
    """Evidently's PSI zero filling: empty buckets get min(nonzero)/1e6, or 1e-4 if larger."""
    nonzero = percents[percents != 0]
    if nonzero.size == 0:
        return percents
    smallest = float(nonzero.min())
    filler = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(percents == 0, filler, percents)


def psi(reference: Counts, current: Counts) -> float:
    """Population stability index, natural log, shares over all valid values."""
    ref = _fill_zeros(reference / float(reference.sum()))
    cur = _fill_zeros(current / float(current.sum()))
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def jensen_shannon(reference: Counts, current: Counts) -> float:
    """Jensen-Shannon distance (sqrt of the divergence), natural log, no zero filling.

    The same as scipy.spatial.distance.jensenshannon(p, q) with base e.
    """
    p = reference / float(reference.sum())
    q = current / float(current.sum())
    m = (p + q) / 2
    divergence = float(np.sum(_rel_entr(p, m)) + np.sum(_rel_entr(q, m)))
    return math.sqrt(max(divergence, 0.0) / 2)


def _rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    """scipy.special.rel_entr for shares where y > 0 wherever x > 0: x log(x/y), 0 at x = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(x / y), 0.0)


def chi_square(reference: Counts, current: Counts) -> float:
    """Pearson chi-square goodness-of-fit p-value: current counts vs reference shares.

    Expected = reference count * n_current / n_reference, as Evidently. A category the
    reference never saw has expected 0, so any current value there gives p = 0.
    """
    from scipy import special

    keep = (reference > 0) | (current > 0)
    observed = current[keep].astype(np.float64)
    expected = reference[keep] * (observed.sum() / float(reference.sum()))
    if observed.size <= 1:
        return 1.0
    if np.any((expected == 0) & (observed > 0)):
        return 0.0
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return float(special.chdtrc(observed.size - 1, statistic))  # = scipy.stats.chi2.sf


def z_test(reference: Counts, current: Counts) -> float:
    """Two-proportion z-test (two-sided) on the share of the first category present.

    Evidently's z-test: p = 2 * (1 - Phi(|z|)) with the pooled proportion; identical
    single-valued samples give p = 1.
    """
    from scipy import special

    present = np.flatnonzero((reference > 0) | (current > 0))
    if present.size <= 1:
        return 1.0
    key = present[0]
    n1, n2 = float(reference.sum()), float(current.sum())
    p1, p2 = reference[key] / n1, current[key] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - special.ndtr(abs(z))))  # ndtr = scipy.stats.norm.cdf
