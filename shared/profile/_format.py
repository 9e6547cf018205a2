"""The reference-profile data model and its versioned JSON form (see docs/reference-profile.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FORMAT_NAME = "modelfleet.reference-profile"
FORMAT_VERSION = 1

NUMERICAL: Literal["numerical"] = "numerical"
CATEGORICAL: Literal["categorical"] = "categorical"
Kind = Literal["numerical", "categorical"]


class ProfileError(ValueError):
    """Bad profile input or document; the message names the field and what was expected."""


@dataclass(frozen=True)
class ProfileSettings:
    """How a profile was computed; the drift engine reads `fine_bins` and `value_map_limit`."""

    fine_bins: int = 1800
    max_categories: int = 100
    value_map_limit: int = 20
    sample_size: int = 2000
    quantile_levels: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    seed: int = 0


@dataclass(frozen=True, eq=False)
class FeatureProfile:
    """Summary of one feature of the training data.

    `values`/`value_counts` is the bounded value map (categories, or the distinct values of a
    numerical feature with at most `value_map_limit` of them); what did not fit is `other_count`.
    `sample` holds valid values only; it is the whole valid column when `len(sample) == n_valid`.
    """

    name: str
    kind: Kind
    count: int
    n_missing: int
    n_posinf: int
    n_neginf: int
    n_unique: int
    unique_exact: bool
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: tuple[float | None, ...] = ()
    histogram: npt.NDArray[np.int64] | None = None
    values: tuple[str | float, ...] | None = None
    value_counts: tuple[int, ...] = ()
    other_count: int = 0
    sample: npt.NDArray[Any] = field(default_factory=lambda: np.empty(0))

    @property
    def n_valid(self) -> int:
        """Values that are neither missing nor infinite."""
        return self.count - self.n_missing - self.n_posinf - self.n_neginf

    @property
    def sample_is_complete(self) -> bool:
        return int(self.sample.shape[0]) == self.n_valid


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """A versioned reference profile: one `FeatureProfile` per feature, in column order."""

    n_rows: int
    features: tuple[FeatureProfile, ...]
    settings: ProfileSettings = ProfileSettings()

    def feature(self, name: str) -> FeatureProfile:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (no NaN: absent statistics are null)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "settings": {
                "fine_bins": self.settings.fine_bins,
                "max_categories": self.settings.max_categories,
                "value_map_limit": self.settings.value_map_limit,
                "sample_size": self.settings.sample_size,
                "quantile_levels": list(self.settings.quantile_levels),
                "seed": self.settings.seed,
            },
            "features": [_feature_to_dict(f) for f in self.features],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ReferenceProfile:
        """Validate and load a document; raises ProfileError naming the first bad field."""
        return _profile_from_dict(document)


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _feature_to_dict(f: FeatureProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "kind": f.kind,
        "count": f.count,
        "n_missing": f.n_missing,
        "n_posinf": f.n_posinf,
        "n_neginf": f.n_neginf,
        "n_unique": f.n_unique,
        "unique_exact": f.unique_exact,
    }
    if f.kind == NUMERICAL:
        out.update(
            min=_number(f.minimum),
            max=_number(f.maximum),
            mean=_number(f.mean),
            std=_number(f.std),
            quantiles=[_number(q) for q in f.quantiles],
            histogram=None if f.histogram is None else f.histogram.tolist(),
        )
    out["values"] = None if f.values is None else list(f.values)
    out["value_counts"] = list(f.value_counts)
    out["other_count"] = f.other_count
    out["sample"] = f.sample.tolist()
    return out


# --- validation -------------------------------------------------------------------------


def _get(doc: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in doc:
        raise ProfileError(f"{path}.{key}: required field is missing")
    return doc[key]


def _int(doc: Mapping[str, Any], key: str, path: str, minimum: int = 0) -> int:
    value = _get(doc, key, path)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProfileError(f"{path}.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _optional_float(doc: Mapping[str, Any], key: str, path: str) -> float | None:
    value = _get(doc, key, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{path}.{key}: expected a finite number or null, got {value!r}")
    return float(value)


def _list(doc: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = _get(doc, key, path)
    if not isinstance(value, list):
        raise ProfileError(f"{path}.{key}: expected a list, got {type(value).__name__}")
    return value


def _int_list(doc: Mapping[str, Any], key: str, path: str) -> list[int]:
    items = _list(doc, key, path)
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise ProfileError(f"{path}.{key}[{i}]: expected a count >= 0, got {item!r}")
    return items


def _settings_from_dict(doc: Any, path: str) -> ProfileSettings:
    if not isinstance(doc, Mapping):
        raise ProfileError(f"{path}: expected an object")
    levels = _list(doc, "quantile_levels", path)
    for i, level in enumerate(levels):
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 1:
            raise ProfileError(f"{path}.quantile_levels[{i}]: expected a number in [0, 1]")
    if list(levels) != sorted(levels):
        raise ProfileError(f"{path}.quantile_levels: expected increasing levels")
    return ProfileSettings(
        fine_bins=_int(doc, "fine_bins", path, minimum=1),
        max_categories=_int(doc, "max_categories", path, minimum=1),
        value_map_limit=_int(doc, "value_map_limit", path, minimum=0),
        sample_size=_int(doc, "sample_size", path),
        quantile_levels=tuple(float(v) for v in levels),
        seed=_int(doc, "seed", path),
    )


def _profile_from_dict(doc: Mapping[str, Any]) -> ReferenceProfile:
    if not isinstance(doc, Mapping):
        raise ProfileError("profile: expected a JSON object")
    if doc.get("format") != FORMAT_NAME:
        raise ProfileError(f"profile.format: expected {FORMAT_NAME!r}, got {doc.get('format')!r}")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise ProfileError(f"profile.version: expected {FORMAT_VERSION}, got {version!r}")
    n_rows = _int(doc, "n_rows", "profile")
    settings = _settings_from_dict(_get(doc, "settings", "profile"), "profile.settings")
    raw_features = _list(doc, "features", "profile")
    features = tuple(
        _feature_from_dict(item, f"profile.features[{i}]", n_rows, settings)
        for i, item in enumerate(raw_features)
    )
    names = [f.name for f in features]
    if len(set(names)) != len(names):
        raise ProfileError("profile.features: feature names must be unique")
    return ReferenceProfile(n_rows=n_rows, features=features, settings=settings)


def _feature_from_dict(
    doc: Any, path: str, n_rows: int, settings: ProfileSettings
) -> FeatureProfile:
    if not isinstance(doc, Mapping):
        raise ProfileError(f"{path}: expected an object")
    name = _get(doc, "name", path)
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{path}.name: expected a non-empty string")
    kind = _get(doc, "kind", path)
    if kind not in (NUMERICAL, CATEGORICAL):
        raise ProfileError(f"{path}.kind: expected 'numerical' or 'categorical', got {kind!r}")
    count = _int(doc, "count", path)
    if count != n_rows:
        raise ProfileError(f"{path}.count: expected {n_rows} (profile.n_rows), got {count}")
    unique_exact = _get(doc, "unique_exact", path)
    if not isinstance(unique_exact, bool):
        raise ProfileError(f"{path}.unique_exact: expected true or false")
    base = {
        "name": name,
        "kind": kind,
        "count": count,
        "n_missing": _int(doc, "n_missing", path),
        "n_posinf": _int(doc, "n_posinf", path),
        "n_neginf": _int(doc, "n_neginf", path),
        "n_unique": _int(doc, "n_unique", path),
        "unique_exact": unique_exact,
    }
    n_valid = count - base["n_missing"] - base["n_posinf"] - base["n_neginf"]
    if n_valid < 0:
        raise ProfileError(f"{path}: n_missing + n_posinf + n_neginf exceeds count")
    values, value_counts, other = _value_map(doc, path, kind, n_valid, settings)
    sample = _sample(doc, path, kind, n_valid, settings)
    if kind == CATEGORICAL:
        return FeatureProfile(
            **base, values=values, value_counts=value_counts, other_count=other, sample=sample
        )
    minimum = _optional_float(doc, "min", path)
    maximum = _optional_float(doc, "max", path)
    if (minimum is None) != (n_valid == 0) or (maximum is None) != (n_valid == 0):
        raise ProfileError(f"{path}.min/max: expected numbers exactly when there are valid values")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ProfileError(f"{path}.min: expected min <= max")
    histogram = _int_list(doc, "histogram", path)
    if len(histogram) != settings.fine_bins or sum(histogram) != n_valid:
        raise ProfileError(
            f"{path}.histogram: expected {settings.fine_bins} counts summing to {n_valid}"
        )
    quantiles = _list(doc, "quantiles", path)
    if len(quantiles) != len(settings.quantile_levels):
        raise ProfileError(f"{path}.quantiles: expected {len(settings.quantile_levels)} values")
    return FeatureProfile(
        **base,
        minimum=minimum,
        maximum=maximum,
        mean=_optional_float(doc, "mean", path),
        std=_optional_float(doc, "std", path),
        quantiles=tuple(
            _optional_float({"q": q}, "q", f"{path}.quantiles[{i}]")
            for i, q in enumerate(quantiles)
        ),
        histogram=np.asarray(histogram, dtype=np.int64),
        values=values,
        value_counts=value_counts,
        other_count=other,
        sample=sample,
    )


def _value_map(
    doc: Mapping[str, Any], path: str, kind: str, n_valid: int, settings: ProfileSettings
) -> tuple[tuple[str | float, ...] | None, tuple[int, ...], int]:
    raw = _get(doc, "values", path)
    counts = _int_list(doc, "value_counts", path)
    other = _int(doc, "other_count", path)
    if raw is None:
        if kind == CATEGORICAL:
            raise ProfileError(f"{path}.values: a categorical feature needs its value map")
        return None, (), 0
    if not isinstance(raw, list):
        raise ProfileError(f"{path}.values: expected a list or null")
    expected: type | tuple[type, ...] = str if kind == CATEGORICAL else (int, float)
    for i, value in enumerate(raw):
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ProfileError(
                f"{path}.values[{i}]: expected a {'string' if kind == CATEGORICAL else 'number'}"
            )
    if len(set(raw)) != len(raw):
        raise ProfileError(f"{path}.values: values must be unique")
    limit = settings.max_categories if kind == CATEGORICAL else settings.value_map_limit
    if len(raw) > limit or len(counts) != len(raw):
        raise ProfileError(f"{path}.value_counts: expected one count per value, at most {limit}")
    if sum(counts) + other != n_valid:
        raise ProfileError(f"{path}.value_counts: counts plus other_count must equal {n_valid}")
    values = tuple(raw) if kind == CATEGORICAL else tuple(float(v) for v in raw)
    return values, tuple(counts), other


def _sample(
    doc: Mapping[str, Any], path: str, kind: str, n_valid: int, settings: ProfileSettings
) -> npt.NDArray[Any]:
    raw = _list(doc, "sample", path)
    if len(raw) > min(settings.sample_size, n_valid):
        raise ProfileError(
            f"{path}.sample: expected at most {min(settings.sample_size, n_valid)} values"
        )
    if kind == CATEGORICAL:
        if not all(isinstance(v, str) for v in raw):
            raise ProfileError(f"{path}.sample: expected strings")
        return np.asarray(raw, dtype=object)
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in raw
    ):
        raise ProfileError(f"{path}.sample: expected finite numbers")
    return np.asarray(raw, dtype=np.float64)


def sequence_of_names(names: Sequence[str], path: str) -> list[str]:
    """Validate a list of feature names (non-empty, unique strings)."""
    out = list(names)
    for i, name in enumerate(out):
        if not isinstance(name, str) or not name:
            raise ProfileError(f"{path}[{i}]: expected a non-empty string, got {name!r}")
    if len(set(out)) != len(out):
        raise ProfileError(f"{path}: feature names must be unique")
    return out
