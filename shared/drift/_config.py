"""Drift methods, Evidently-0.7 default choice and thresholds, and per-feature overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelfleet.profile import CATEGORICAL, FeatureProfile

KS = "ks"
WASSERSTEIN = "wasserstein"
PSI = "psi"
JENSEN_SHANNON = "jensenshannon"
CHI_SQUARE = "chisquare"
Z_TEST = "z"

METHODS = (KS, WASSERSTEIN, PSI, JENSEN_SHANNON, CHI_SQUARE, Z_TEST)
# p-value tests drift when p <= threshold; distances when the distance >= threshold.
P_VALUE_METHODS = frozenset({KS, CHI_SQUARE, Z_TEST})
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    KS: 0.05,
    CHI_SQUARE: 0.05,
    Z_TEST: 0.05,
    WASSERSTEIN: 0.1,
    PSI: 0.1,
    JENSEN_SHANNON: 0.1,
}
# Evidently switches from tests to distances above this many reference rows.
SMALL_REFERENCE_ROWS = 1000


class DriftError(ValueError):
    """Bad drift input or configuration; the message names the field and what was expected."""


@dataclass(frozen=True)
class FeatureOverride:
    """Replace the default method and/or threshold of one feature."""

    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class DriftConfig:
    """How windows are cut and judged. `features` overrides `method`/`threshold` per feature.

    A window closes after `window_rows` rows or `window_seconds` seconds, whichever comes
    first (either may be None, not both). Windows with fewer than `min_window_rows` rows are
    reported but not judged.
    """

    window_rows: int | None = 1000
    window_seconds: float | None = None
    min_window_rows: int = 30
    reservoir_size: int = 2000
    drift_share: float = 0.5
    method: str | None = None
    threshold: float | None = None
    features: Mapping[str, FeatureOverride] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window_rows is None and self.window_seconds is None:
            raise DriftError("window_rows/window_seconds: expected at least one of them")
        if self.window_rows is not None and self.window_rows < 1:
            raise DriftError(f"window_rows: expected an integer >= 1, got {self.window_rows}")
        if self.window_seconds is not None and not self.window_seconds > 0:
            raise DriftError(f"window_seconds: expected > 0, got {self.window_seconds}")
        if self.min_window_rows < 1:
            raise DriftError(f"min_window_rows: expected >= 1, got {self.min_window_rows}")
        if self.reservoir_size < 0:
            raise DriftError(f"reservoir_size: expected >= 0, got {self.reservoir_size}")
        if not 0 < self.drift_share <= 1:
            raise DriftError(f"drift_share: expected a share in (0, 1], got {self.drift_share}")
        _check_method(self.method, "method")
        _check_threshold(self.threshold, "threshold")
        for name, override in self.features.items():
            _check_method(override.method, f"features.{name}.method")
            _check_threshold(override.threshold, f"features.{name}.threshold")

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> DriftConfig:
        """Build from a plain dict (deployment settings); unknown keys are refused."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(document) - allowed
        if unknown:
            raise DriftError(f"{sorted(unknown)[0]}: unknown drift setting")
        raw = dict(document)
        features = raw.pop("features", {}) or {}
        if not isinstance(features, Mapping):
            raise DriftError("features: expected an object of feature name -> override")
        overrides = {}
        for name, item in features.items():
            if not isinstance(item, Mapping) or set(item) - {"method", "threshold"}:
                raise DriftError(f"features.{name}: expected {{method?, threshold?}}")
            overrides[str(name)] = FeatureOverride(item.get("method"), item.get("threshold"))
        try:
            return cls(**raw, features=overrides)
        except TypeError as exc:
            raise DriftError(f"drift settings: {exc}") from exc


def _check_method(method: str | None, field_name: str) -> None:
    if method is not None and method not in METHODS:
        raise DriftError(f"{field_name}: expected one of {', '.join(METHODS)}, got {method!r}")


def _check_threshold(threshold: float | None, field_name: str) -> None:
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or threshold < 0
    ):
        raise DriftError(f"{field_name}: expected a finite number >= 0, got {threshold!r}")


def default_method(feature: FeatureProfile) -> str:
    """Evidently 0.7's choice, with the distinct count taken from the reference.

    Reference <= 1000 valid rows: KS (numerical, > 5 values), chi-square (3-5 values, or
    categorical with > 2), z-test (<= 2). Larger: normalised Wasserstein (numerical, > 5
    values), Jensen-Shannon otherwise.
    """
    n_values = feature.n_unique
    categorical = feature.kind == CATEGORICAL
    if feature.n_valid <= SMALL_REFERENCE_ROWS:
        if categorical or n_values <= 5:
            return CHI_SQUARE if n_values > 2 else Z_TEST
        return KS
    if not categorical and n_values > 5:
        return WASSERSTEIN
    return JENSEN_SHANNON


def resolve(feature: FeatureProfile, config: DriftConfig) -> tuple[str, float]:
    """The method and threshold for a feature: per-feature override > config-wide > default."""
    override = config.features.get(feature.name, FeatureOverride())
    method = override.method or config.method or default_method(feature)
    has_value_map = feature.values is not None
    if method in (KS, WASSERSTEIN) and feature.kind == CATEGORICAL:
        raise DriftError(f"features.{feature.name}.method: {method} needs a numerical feature")
    if method in (CHI_SQUARE, Z_TEST) and not has_value_map:
        raise DriftError(
            f"features.{feature.name}.method: {method} needs a categorical or "
            f"low-cardinality feature (at most the profile's value_map_limit distinct values)"
        )
    threshold = override.threshold if override.threshold is not None else config.threshold
    return method, float(DEFAULT_THRESHOLDS[method] if threshold is None else threshold)
