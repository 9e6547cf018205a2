"""Drift results: per-feature verdicts and the per-window dataset verdict, as plain data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares on shared buckets: numeric `edges` or category `labels`.

    For numeric buckets, `below`/`above` are the current shares outside the reference range.
    """

    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    below: float = 0.0
    above: float = 0.0


@dataclass(frozen=True)
class FeatureDrift:
    """One feature in one window. `statistic` is a p-value for ks/chisquare/z, else a distance."""

    name: str
    kind: str
    method: str
    threshold: float
    statistic: float | None
    drifted: bool
    judged: bool
    exact: bool
    note: str | None
    n_rows: int
    n_valid: int
    missing_share: float
    inf_share: float
    out_of_range_share: float
    reference_missing_share: float
    reference_inf_share: float
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None
    reference_mean: float | None
    reference_std: float | None
    histogram: Histogram | None


@dataclass(frozen=True)
class DriftReport:
    """A window's verdicts: the dataset drifts when share_drifted >= drift_share."""

    started_at: float
    ended_at: float
    n_rows: int
    judged: bool
    drift_share: float
    n_judged: int
    n_drifted: int
    share_drifted: float
    dataset_drifted: bool
    features: tuple[FeatureDrift, ...]

    def feature(self, name: str) -> FeatureDrift:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_dict(self, histograms: bool = True) -> dict[str, Any]:
        """JSON-ready dict; non-finite numbers become null."""
        out = asdict(self)
        if not histograms:
            for feature in out["features"]:
                feature.pop("histogram")
        return _finite(out)  # type: ignore[no-any-return]


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
