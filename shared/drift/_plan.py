"""A reference profile compiled into the arrays a drift window counts against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelfleet.drift._config import DriftConfig, DriftError, resolve
from modelfleet.profile import CATEGORICAL, NUMERICAL, BinLayout, FeatureProfile, ReferenceProfile
from modelfleet.profile._binning import range_of

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class CategoryMap:
    """Sorted reference categories for vectorised lookup; code len(values) is 'other'."""

    sorted_values: npt.NDArray[np.str_]
    codes: npt.NDArray[np.intp]  # profile order of each sorted value

    def encode(self, values: npt.NDArray[np.str_]) -> npt.NDArray[np.intp]:
        other = self.codes.shape[0]
        if other == 0:
            return np.full(values.shape[0], 0, dtype=np.intp)
        position = np.searchsorted(self.sorted_values, values)
        np.clip(position, 0, other - 1, out=position)
        return np.where(self.sorted_values[position] == values, self.codes[position], other)


class DriftPlan:
    """Per-feature methods and reference arrays, fixed for the life of an accumulator."""

    def __init__(self, profile: ReferenceProfile, config: DriftConfig) -> None:
        unknown = set(config.features) - set(profile.feature_names)
        if unknown:
            name = sorted(unknown)[0]
            raise DriftError(f"features.{name}: not a feature of the reference profile")
        self.profile = profile
        self.config = config
        self.names = profile.feature_names
        self.kinds = tuple(f.kind for f in profile.features)
        self.methods: dict[str, tuple[str, float]] = {
            f.name: resolve(f, config) for f in profile.features
        }
        self.numeric = tuple(f for f in profile.features if f.kind == NUMERICAL)
        self.numeric_names = tuple(f.name for f in self.numeric)
        bins = profile.settings.fine_bins
        ranges = [range_of(f.minimum, f.maximum) for f in self.numeric]
        self.layout = BinLayout(
            np.array([r[0] for r in ranges], dtype=np.float64).reshape(-1),
            np.array([r[1] for r in ranges], dtype=np.float64).reshape(-1),
            bins,
        )
        self.reference_bins = np.zeros((len(self.numeric), bins), dtype=np.int64)
        for i, feature in enumerate(self.numeric):
            if feature.histogram is not None:
                self.reference_bins[i] = feature.histogram
        # Low-cardinality numerical features: an exact value table, padded with NaN (never equal).
        self.low_index = np.array(
            [i for i, f in enumerate(self.numeric) if f.values is not None], dtype=np.intp
        )
        width = max([len(self.numeric[i].values or ()) for i in self.low_index] + [0])
        self.low_values = np.full((len(self.low_index), width), np.nan)
        for row, i in enumerate(self.low_index):
            values = self.numeric[i].values or ()
            self.low_values[row, : len(values)] = np.asarray(values, dtype=np.float64)
        self.categorical = tuple(f for f in profile.features if f.kind == CATEGORICAL)
        self.category_maps = tuple(_category_map(f) for f in self.categorical)


def _category_map(feature: FeatureProfile) -> CategoryMap:
    values = np.asarray(feature.values or (), dtype=str)
    order = np.argsort(values, kind="stable")
    return CategoryMap(values[order], order.astype(np.intp))


def reference_value_counts(feature: FeatureProfile) -> IntArray:
    """The value-map counts with 'other' last."""
    return np.asarray([*feature.value_counts, feature.other_count], dtype=np.int64)
