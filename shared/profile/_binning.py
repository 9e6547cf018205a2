"""Reference-aligned fine bins: the layout shared by a profile and every drift window."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Slot layout of one feature's counts:
#   [below range, bin 0 .. bin K-1, above range, NaN, +inf, -inf].
# Keeping the out-of-range and non-finite values in the same count vector means one
# bincount per batch fills everything.
EXTRA_SLOTS = 5


def slot_count(bins: int) -> int:
    return bins + EXTRA_SLOTS


def range_of(minimum: float | None, maximum: float | None) -> tuple[float, float]:
    """A feature's histogram range: its min/max, widened by 0.5 when constant (numpy's rule)."""
    if minimum is None or maximum is None:
        return -0.5, 0.5
    if minimum == maximum:
        return minimum - 0.5, maximum + 0.5
    return minimum, maximum


class BinLayout:
    """K equal-width bins over each feature's reference range [lo, hi], all features at once."""

    def __init__(self, lo: FloatArray, hi: FloatArray, bins: int) -> None:
        self.lo = np.asarray(lo, dtype=np.float64)
        self.hi = np.asarray(hi, dtype=np.float64)
        self.bins = bins
        with np.errstate(over="ignore", divide="ignore"):
            self._norm = bins / (self.hi - self.lo)
        features = self.lo.shape[0]
        self._slot_offsets = np.arange(features) * slot_count(bins)

    @property
    def features(self) -> int:
        return int(self.lo.shape[0])

    def edges(self, feature: int) -> FloatArray:
        """The K+1 bin edges of one feature."""
        return np.linspace(self.lo[feature], self.hi[feature], self.bins + 1)

    @property
    def slots(self) -> int:
        return slot_count(self.bins)

    def assign(self, values: FloatArray) -> npt.NDArray[np.intp]:
        """Flat slot index (feature offset included) of every value of an (F, n) float matrix.

        Bin b holds lo + b*w <= x < lo + (b+1)*w with w = (hi - lo)/K, computed as
        floor((x - lo) * K / (hi - lo)); x == hi goes to the last bin, as in np.histogram.
        """
        k = self.bins
        lo, hi = self.lo[:, None], self.hi[:, None]
        position = values - lo
        position *= self._norm[:, None]
        np.floor(position, out=position)
        np.maximum(position, -1, out=position)  # ufuncs: np.clip's wrapper costs more per batch
        np.minimum(position, k - 1, out=position)
        np.copyto(position, k, where=values > hi)
        nan = np.isnan(values)
        if nan.any():
            np.copyto(position, k + 1, where=nan)
        infinite = np.isinf(values)
        if infinite.any():
            np.copyto(position, k + 2, where=infinite & (values > 0))
            np.copyto(position, k + 3, where=infinite & (values < 0))
        slot = position.astype(np.intp)
        slot += self._slot_offsets[:, None] + 1
        return slot

    def count(self, values: FloatArray) -> IntArray:
        """Slot counts (F, K+5) of an (F, n) matrix."""
        flat = self.assign(values).ravel()
        counts = np.bincount(flat, minlength=self.features * self.slots)
        return counts.reshape(self.features, self.slots).astype(np.int64)

    def accumulate(self, values: FloatArray, counts: IntArray) -> None:
        """Add an (F, n) matrix into `counts` (F, K+5) in place."""
        flat = self.assign(values).ravel()
        target = counts.reshape(-1)
        # add.at is cheap for small batches; bincount wins once the batch outgrows the table.
        if flat.size * 4 < target.size:
            np.add.at(target, flat, 1)
        else:
            target += np.bincount(flat, minlength=target.size)
