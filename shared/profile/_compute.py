"""Compute a reference profile from training data, vectorised over all numerical features."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelfleet.profile._binning import BinLayout, range_of
from modelfleet.profile._format import (
    CATEGORICAL,
    NUMERICAL,
    FeatureProfile,
    ProfileError,
    ProfileSettings,
    ReferenceProfile,
)
from modelfleet.profile._tabular import ObjectArray, missing_mask, read_table

FloatArray = npt.NDArray[np.float64]


def compute_profile(
    data: Any,
    feature_names: Sequence[str] | None = None,
    *,
    categorical: Collection[str] = (),
    settings: ProfileSettings | None = None,
) -> ReferenceProfile:
    """Profile `data`: a pandas DataFrame, a mapping of columns, or a 2-D array (+ names).

    Numeric dtypes (bool included) are numerical unless listed in `categorical`; anything
    else is categorical. The result is deterministic for a given `settings.seed`.
    """
    settings = settings or ProfileSettings()
    if settings.fine_bins < 1 or settings.sample_size < 0 or settings.max_categories < 1:
        raise ProfileError("settings: fine_bins and max_categories must be >= 1, sample_size >= 0")
    table = read_table(data, feature_names, categorical)
    rng = np.random.default_rng(settings.seed)
    numerical = _numerical_profiles(table.numeric_names, table.numeric, settings, rng)
    by_name: dict[str, FeatureProfile] = dict(zip(table.numeric_names, numerical, strict=True))
    for name, column in table.categorical.items():
        by_name[name] = _categorical_profile(name, column, settings, rng)
    return ReferenceProfile(
        n_rows=table.n_rows,
        features=tuple(by_name[name] for name in table.names),
        settings=settings,
    )


def _moments(x: FloatArray) -> tuple[FloatArray, ...]:
    """Per-feature valid count, min, max, mean and population std of an (F, n) matrix.

    NaN and +-inf are ignored.
    """
    finite = np.isfinite(x)
    if finite.all():  # the common case skips every mask
        n_valid = np.full(x.shape[0], x.shape[1])
        minimum, maximum = x.min(axis=1, initial=np.inf), x.max(axis=1, initial=-np.inf)
        mean = x.sum(axis=1) / max(x.shape[1], 1)
        centred = x - mean[:, None]
    else:
        n_valid = finite.sum(axis=1)
        minimum = np.where(finite, x, np.inf).min(axis=1, initial=np.inf)
        maximum = np.where(finite, x, -np.inf).max(axis=1, initial=-np.inf)
        mean = np.where(finite, x, 0.0).sum(axis=1) / np.maximum(n_valid, 1)
        centred = np.where(finite, x - mean[:, None], 0.0)
    centred *= centred
    std = np.sqrt(centred.sum(axis=1) / np.maximum(n_valid, 1))
    return n_valid, minimum, maximum, mean, std


def _numerical_profiles(
    names: tuple[str, ...], x: FloatArray, settings: ProfileSettings, rng: np.random.Generator
) -> list[FeatureProfile]:
    if not names:
        return []
    n_valid, minimum, maximum, mean, std = _moments(x)
    has_values = n_valid > 0
    ranges = [
        range_of(float(lo), float(hi)) if ok else range_of(None, None)
        for lo, hi, ok in zip(minimum, maximum, has_values, strict=True)
    ]
    layout = BinLayout(
        np.array([r[0] for r in ranges]), np.array([r[1] for r in ranges]), settings.fine_bins
    )
    slots = layout.assign(x)
    counts = np.bincount(slots.ravel(), minlength=layout.features * layout.slots).reshape(
        layout.features, layout.slots
    )
    k = settings.fine_bins
    histograms = counts[:, 1 : k + 1]
    # Only the fine bins holding a requested order statistic are sorted (see _quantile_bins).
    needed = np.zeros((layout.features, layout.slots), dtype=bool)
    ranks = [_quantile_ranks(int(n), settings) for n in n_valid]
    for f, (rank, _) in enumerate(ranks):
        needed[f, 1 + _rank_bins(histograms[f], rank)] = True
    picked = needed.ravel()[slots]
    profiles = []
    for f, name in enumerate(names):
        column = x[f]
        histogram = histograms[f].astype(np.int64)
        n_unique, exact, values, value_counts = _distinct(column, histogram, settings)
        ok = bool(has_values[f])
        profiles.append(
            FeatureProfile(
                name=name,
                kind=NUMERICAL,
                count=int(column.shape[0]),
                n_missing=int(counts[f, k + 2]),
                n_posinf=int(counts[f, k + 3]),
                n_neginf=int(counts[f, k + 4]),
                n_unique=n_unique,
                unique_exact=exact,
                minimum=float(minimum[f]) if ok else None,
                maximum=float(maximum[f]) if ok else None,
                mean=float(mean[f]) if ok else None,
                std=float(std[f]) if ok else None,
                quantiles=_quantiles(column[picked[f]], histogram, ranks[f], settings),
                histogram=histogram,
                values=values,
                value_counts=value_counts,
                sample=_sample(column, int(n_valid[f]), settings.sample_size, rng),
            )
        )
    return profiles


def _distinct(
    column: FloatArray, histogram: npt.NDArray[np.int64], settings: ProfileSettings
) -> tuple[int, bool, tuple[str | float, ...] | None, tuple[int, ...]]:
    """Exact distinct count when small; otherwise the count of occupied fine bins (a lower bound).

    Sorting every column just to count distinct values would dominate profiling time, so
    only columns whose occupied bins already show few values are sorted.
    """
    occupied = int(np.count_nonzero(histogram))
    if occupied > settings.max_categories:
        return occupied, False, None, ()
    uniques, counts = np.unique(column[np.isfinite(column)], return_counts=True)
    if len(uniques) > settings.value_map_limit:
        return len(uniques), True, None, ()
    order = np.argsort(-counts, kind="stable")
    values = tuple(float(v) for v in uniques[order])
    return len(uniques), True, values, tuple(int(c) for c in counts[order])


def _quantile_ranks(
    n: int, settings: ProfileSettings
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The order statistics (0-based ranks) numpy's linear quantiles need, and the positions."""
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    positions = np.asarray(settings.quantile_levels) * (n - 1)
    lower = np.floor(positions).astype(np.int64)
    return np.unique(np.concatenate([lower, np.minimum(lower + 1, n - 1)])), positions


def _rank_bins(histogram: npt.NDArray[np.int64], ranks: npt.NDArray[np.int64]) -> Any:
    return np.searchsorted(np.cumsum(histogram), ranks, side="right")


def _quantiles(
    picked: FloatArray,
    histogram: npt.NDArray[np.int64],
    ranks_positions: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
    settings: ProfileSettings,
) -> tuple[float | None, ...]:
    """Exact quantiles (numpy's linear method) from the values of the bins that hold them."""
    ranks, positions = ranks_positions
    if ranks.size == 0:
        return tuple(None for _ in settings.quantile_levels)
    picked = np.sort(picked)
    bins = _rank_bins(histogram, ranks)
    below = np.cumsum(histogram) - histogram
    kept = np.zeros_like(histogram)
    kept[bins] = histogram[bins]
    kept_below = np.cumsum(kept) - kept
    order_stats = dict(
        zip(ranks.tolist(), picked[ranks - below[bins] + kept_below[bins]], strict=True)
    )
    last = int(ranks[-1])
    out = []
    for position in positions:
        low = int(np.floor(position))
        a = order_stats[low]
        b = order_stats[min(low + 1, last)]
        out.append(float(a + (position - low) * (b - a)))
    return tuple(out)


def _sample(
    column: npt.NDArray[Any], n_valid: int, size: int, rng: np.random.Generator
) -> npt.NDArray[Any]:
    """A uniform sample (in column order) of at most `size` valid values."""
    valid = column if n_valid == column.shape[0] else column[np.isfinite(column)]
    if valid.shape[0] <= size:
        return valid.copy()
    return valid[np.sort(rng.choice(valid.shape[0], size, replace=False))]


def _categorical_profile(
    name: str, column: ObjectArray, settings: ProfileSettings, rng: np.random.Generator
) -> FeatureProfile:
    missing = missing_mask(column)
    valid = column[~missing].astype(str)
    uniques, counts = np.unique(valid, return_counts=True)
    order = np.argsort(-counts, kind="stable")[: settings.max_categories]
    kept = counts[order]
    return FeatureProfile(
        name=name,
        kind=CATEGORICAL,
        count=int(column.shape[0]),
        n_missing=int(missing.sum()),
        n_posinf=0,
        n_neginf=0,
        n_unique=len(uniques),
        unique_exact=True,
        values=tuple(str(v) for v in uniques[order]),
        value_counts=tuple(int(c) for c in kept),
        other_count=int(valid.shape[0] - kept.sum()),
        sample=_categorical_sample(valid, settings.sample_size, rng),
    )


def _categorical_sample(
    valid: npt.NDArray[Any], size: int, rng: np.random.Generator
) -> npt.NDArray[Any]:
    if valid.shape[0] > size:
        valid = valid[np.sort(rng.choice(valid.shape[0], size, replace=False))]
    return valid.astype(object)
