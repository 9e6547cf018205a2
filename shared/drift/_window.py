"""One drift window: bounded per-feature state, updated per batch with vectorised numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from modelfleet.drift._config import DriftError
from modelfleet.drift._plan import DriftPlan
from modelfleet.profile import ProfileError
from modelfleet.profile._tabular import missing_mask, table_for

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Rows compared at once against low-cardinality value tables (bounds the temporary array).
_LOW_CARD_CHUNK = 8192


class DriftWindow:
    """Counts, moments and a row reservoir for one window; memory is fixed by the plan.

    Numerical features: fine-bin slot counts (K + 5 per feature), valid count/mean/M2/min/max,
    the summed distance of out-of-range values, exact value counts for low-cardinality
    features, and a uniform reservoir of up to `reservoir_size` rows (all of them while the
    window is that small, which is when KS and Wasserstein are computed exactly).
    Categorical features: counts per reference category plus 'other', and missing counts.
    """

    def __init__(self, plan: DriftPlan, seed: int | None = None, started_at: float = 0.0) -> None:
        self.plan = plan
        self.started_at = started_at
        self.ended_at = started_at
        self.n_rows = 0
        f = len(plan.numeric)
        self.slot_counts = np.zeros((f, plan.layout.slots), dtype=np.int64)
        self.valid = np.zeros(f, dtype=np.int64)
        self.mean = np.zeros(f)
        self.m2 = np.zeros(f)
        self.minimum = np.full(f, np.inf)
        self.maximum = np.full(f, -np.inf)
        self.below_distance = np.zeros(f)
        self.above_distance = np.zeros(f)
        self.low_counts = np.zeros((len(plan.low_index), plan.low_values.shape[1]), dtype=np.int64)
        size = plan.config.reservoir_size
        self.reservoir = np.empty((f, size))
        self.reservoir_rows = 0
        self._rng = np.random.default_rng(seed)
        self.category_counts = [
            np.zeros(len(m.codes) + 1, dtype=np.int64) for m in plan.category_maps
        ]
        self.category_missing = np.zeros(len(plan.category_maps), dtype=np.int64)

    def update(self, batch: Any) -> int:
        """Add a batch: an (n, F) numeric array in profile order, a DataFrame or a column mapping.

        Returns the number of rows added.
        """
        numeric, categorical = self._split(batch)
        n = numeric.shape[1] if numeric is not None else len(next(iter(categorical.values())))
        if n == 0:
            return 0
        if numeric is not None and numeric.shape[0]:
            self._update_numeric(numeric)
        for i, values in enumerate(categorical.values()):
            self._update_categorical(i, values)
        self.n_rows += n
        return n

    def _split(self, batch: Any) -> tuple[FloatArray | None, dict[str, Any]]:
        """The numerical block as (features, rows) float64 and the categorical columns."""
        plan = self.plan
        if isinstance(batch, np.ndarray) and not plan.categorical:
            if batch.ndim != 2 or batch.shape[1] != len(plan.names):
                raise DriftError(
                    f"batch: expected shape (rows, {len(plan.names)}) in profile feature order, "
                    f"got {batch.shape}"
                )
            try:
                return np.ascontiguousarray(batch.T, dtype=np.float64), {}
            except (TypeError, ValueError) as exc:
                raise DriftError(f"batch: expected numbers ({exc})") from exc
        try:
            table = table_for(batch, plan.names, plan.kinds)
        except ProfileError as exc:
            raise DriftError(f"batch: {exc}") from exc
        return table.numeric, dict(table.categorical)

    def _update_numeric(self, x: FloatArray) -> None:
        """Fold an (F, n) block into the window; every step is one numpy call for all features."""
        plan = self.plan
        plan.layout.accumulate(x, self.slot_counts)
        finite = np.isfinite(x)
        if finite.all():
            clean = x
            count = np.full(x.shape[0], x.shape[1])
            batch_mean = x.sum(axis=1) / x.shape[1]
            centred = x - batch_mean[:, None]
            centred *= centred
            batch_m2 = centred.sum(axis=1)
            batch_min, batch_max = x.min(axis=1), x.max(axis=1)
        else:
            clean = np.where(finite, x, np.nan)
            count = finite.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                batch_mean = np.nansum(clean, axis=1) / count
            centred = clean - batch_mean[:, None]
            centred *= centred
            batch_m2 = np.nansum(centred, axis=1)
            batch_min = np.where(finite, x, np.inf).min(axis=1)
            batch_max = np.where(finite, x, -np.inf).max(axis=1)
        # Chan et al.'s pairwise merge keeps mean/M2 exact without storing values.
        total = self.valid + count
        has = count > 0
        weight = np.divide(count, total, out=np.zeros(total.shape), where=has)
        delta = np.where(has, batch_mean - self.mean, 0.0)
        self.mean += delta * weight
        self.m2 += np.where(has, batch_m2, 0.0) + delta * delta * self.valid * weight
        self.valid = total
        np.minimum(self.minimum, batch_min, out=self.minimum)
        np.maximum(self.maximum, batch_max, out=self.maximum)
        lo, hi = plan.layout.lo, plan.layout.hi
        # Out-of-range values are rare; only then pay for their exact distance sums.
        if (batch_min < lo).any():
            gap = lo[:, None] - clean
            self.below_distance += np.where(gap > 0, gap, 0.0).sum(axis=1)
        if (batch_max > hi).any():
            gap = clean - hi[:, None]
            self.above_distance += np.where(gap > 0, gap, 0.0).sum(axis=1)
        if plan.low_index.size:
            self._update_low_cardinality(x[plan.low_index])
        if self.reservoir.shape[1]:
            self._update_reservoir(x)

    def _update_low_cardinality(self, x: FloatArray) -> None:
        table = self.plan.low_values[:, None, :]
        for start in range(0, x.shape[1], _LOW_CARD_CHUNK):
            chunk = x[:, start : start + _LOW_CARD_CHUNK, None]
            self.low_counts += (chunk == table).sum(axis=1)

    def _update_reservoir(self, x: FloatArray) -> None:
        """Uniform sample of rows (Vitter's reservoir, merged a batch at a time).

        Of the first t+n rows, a uniform R-subset takes k ~ Hypergeometric(n, t, R) rows from
        the batch: k random batch rows replace k random slots.
        """
        size = self.reservoir.shape[1]
        free = size - self.reservoir_rows if self.reservoir_rows < size else 0
        if free:
            take = min(free, x.shape[1])
            self.reservoir[:, self.reservoir_rows : self.reservoir_rows + take] = x[:, :take]
            self.reservoir_rows += take
            x = x[:, take:]
        n = x.shape[1]
        if n == 0:
            return
        seen = self.reservoir_rows
        k = int(self._rng.hypergeometric(n, seen, size))
        if k:
            rows = self._rng.choice(n, k, replace=False)
            slots = self._rng.choice(size, k, replace=False)
            self.reservoir[:, slots] = x[:, rows]
        self.reservoir_rows = seen + n

    def _update_categorical(self, index: int, values: Any) -> None:
        array = np.asarray(values, dtype=object)
        missing = missing_mask(array)
        self.category_missing[index] += int(missing.sum())
        present = array[~missing].astype(str)
        codes = self.plan.category_maps[index].encode(present)
        counts = self.category_counts[index]
        counts += np.bincount(codes, minlength=counts.shape[0])

    @property
    def reservoir_is_complete(self) -> bool:
        """True while the reservoir holds every row of the window."""
        return self.reservoir_rows <= self.reservoir.shape[1]

    def reservoir_column(self, feature: int) -> FloatArray:
        """The valid values of one feature in the reservoir."""
        rows = min(self.reservoir_rows, self.reservoir.shape[1])
        column = self.reservoir[feature, :rows]
        return column[np.isfinite(column)]
