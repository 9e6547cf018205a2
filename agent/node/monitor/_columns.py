"""Which live tensor column feeds which reference-profile feature, fixed at the first batch.

Inputs come first, then outputs (predictions become extra columns). A 2-D input whose width
matches the model's `feature_names` gives those names; a one-column tensor gives its own name;
other columns are `<tensor>_<j>` (e.g. `probabilities_1`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelfleet.profile import NUMERICAL, ReferenceProfile

Arrays = Mapping[str, np.ndarray]


class ColumnError(ValueError):
    """The reference profile names a column that live traffic does not carry."""


def column_names(name: str, array: np.ndarray, feature_names: Sequence[str] | None) -> list[str]:
    width = int(np.prod(array.shape[1:])) if array.ndim > 1 else 1
    if feature_names is not None and width == len(feature_names) and width > 1:
        return list(feature_names)
    if width == 1:
        return [name]
    return [f"{name}_{j}" for j in range(width)]


class ColumnPlan:
    """Gathers a profile-ordered batch from the request tensors with a fixed number of calls."""

    def __init__(
        self,
        profile: ReferenceProfile,
        sources: Sequence[tuple[str, np.ndarray]],
        feature_names: Sequence[str] | None,
    ) -> None:
        where: dict[str, tuple[str, int]] = {}
        for tensor, array in sources:
            names = column_names(tensor, array, feature_names)
            for j, column in enumerate(names):
                where.setdefault(column, (tensor, j))
        missing = [f for f in profile.feature_names if f not in where]
        if missing:
            raise ColumnError(
                f"reference profile feature {missing[0]!r} is neither an input column nor an "
                f"output column of the model (columns: {', '.join(where)})"
            )
        self.numeric_only = all(f.kind == NUMERICAL for f in profile.features)
        used = {where[f][0] for f in profile.feature_names}
        #: tensors feeding the profile, in source order
        self.tensors = [t for t, _ in sources if t in used]
        widths = {t: len(column_names(t, a, feature_names)) for t, a in sources}
        offsets, offset = {}, 0
        for tensor in self.tensors:
            offsets[tensor] = offset
            offset += widths[tensor]
        self.index = np.array(
            [offsets[where[f][0]] + where[f][1] for f in profile.feature_names], dtype=np.intp
        )
        self.where = {f: where[f] for f in profile.feature_names}

    def gather(self, arrays: Arrays) -> Any:
        """An (n, F) float matrix in profile order, or a column mapping when some are text."""
        n = next(iter(arrays.values())).shape[0]
        if self.numeric_only:
            blocks = [arrays[t].reshape(n, -1) for t in self.tensors]
            full = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
            return np.asarray(full[:, self.index], dtype=np.float64)
        columns = {}
        for feature, (tensor, j) in self.where.items():
            column = arrays[tensor].reshape(n, -1)[:, j]
            if column.dtype.kind in "OS":
                column = np.char.decode(column.astype("S"), "utf-8", "replace")
            columns[feature] = column
        return columns
