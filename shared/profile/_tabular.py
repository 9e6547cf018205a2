"""Turn arrays, DataFrames and column mappings into numeric and categorical column blocks."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelfleet.profile._format import CATEGORICAL, NUMERICAL, Kind, ProfileError, sequence_of_names

FloatMatrix = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

# Numeric dtypes (bool included: a flag is the values 0/1, as pandas and Evidently see it).
_NUMERIC_KINDS = "biuf"


@dataclass(frozen=True, eq=False)
class Table:
    """Columns split by kind: `numeric` is (len(numeric_names), rows) float64, NaN for missing.

    Features are rows so that per-feature reductions run along contiguous memory.
    """

    names: tuple[str, ...]
    kinds: tuple[Kind, ...]
    numeric_names: tuple[str, ...]
    numeric: FloatMatrix
    categorical: Mapping[str, ObjectArray]
    n_rows: int


def _columns(data: Any, feature_names: Sequence[str] | None) -> dict[str, Any]:
    """Name -> 1-D column for every supported input shape."""
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a pandas DataFrame
        names = [str(c) for c in data.columns]
        sequence_of_names(names, "columns")
        return {name: data[col] for name, col in zip(names, data.columns, strict=True)}
    if isinstance(data, Mapping):
        sequence_of_names(list(data.keys()), "columns")
        return dict(data)
    array = np.asarray(data)
    if array.ndim != 2:
        raise ProfileError(f"data: expected a 2-D array (rows, features), got {array.ndim}-D")
    if feature_names is None:
        names = [f"f{i}" for i in range(array.shape[1])]
    else:
        names = sequence_of_names(feature_names, "feature_names")
        if len(names) != array.shape[1]:
            raise ProfileError(
                f"feature_names: expected {array.shape[1]} names (one per column), got {len(names)}"
            )
    return {name: array[:, i] for i, name in enumerate(names)}


def _numeric_block(
    data: Any, feature_names: Sequence[str] | None
) -> tuple[tuple[str, ...], FloatMatrix] | None:
    """All-numeric 2-D arrays and DataFrames as one float64 block, without per-column copies."""
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.dtype.kind in _NUMERIC_KINDS:
        if feature_names is None:
            names = tuple(f"f{i}" for i in range(data.shape[1]))
        else:
            names = tuple(sequence_of_names(feature_names, "feature_names"))
            if len(names) != data.shape[1]:
                return None  # the general path reports the mismatch
        return names, np.ascontiguousarray(data.T, dtype=np.float64)
    dtypes = getattr(data, "dtypes", None)
    if (
        hasattr(data, "columns")
        and dtypes is not None
        and hasattr(data, "to_numpy")
        and all(getattr(d, "kind", "O") in "iuf" for d in dtypes)
    ):
        names = tuple(str(c) for c in data.columns)
        sequence_of_names(names, "columns")
        block = data.to_numpy(dtype=np.float64, na_value=np.nan)
        return names, np.ascontiguousarray(block.T)
    return None


def _is_numeric(column: Any) -> bool:
    dtype = getattr(column, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "O") in _NUMERIC_KINDS


def to_float(column: Any, name: str) -> npt.NDArray[np.float64]:
    """A numeric column as float64 with NaN for missing (pandas nullable types included)."""
    try:
        if hasattr(column, "to_numpy"):
            return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
        array = np.asarray(column)
        if array.dtype == object:
            array = np.where(array == None, np.nan, array)  # noqa: E711 - elementwise
        return np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{name}: expected numbers for a numerical feature ({exc})") from exc


def to_objects(column: Any) -> ObjectArray:
    """A categorical column as an object array (missing stays None/NaN)."""
    if hasattr(column, "to_numpy"):
        return np.asarray(column.to_numpy(dtype=object), dtype=object)
    return np.asarray(column, dtype=object)


def read_table(
    data: Any,
    feature_names: Sequence[str] | None = None,
    categorical: Collection[str] = (),
) -> Table:
    """Split `data` into numeric and categorical columns, inferring kinds from dtypes."""
    fast = _numeric_block(data, feature_names)
    if fast is not None and not categorical:
        names, block = fast
        return Table(names, (NUMERICAL,) * len(names), names, block, {}, block.shape[1])
    columns = _columns(data, feature_names)
    if not columns:
        raise ProfileError("data: expected at least one feature")
    unknown = set(categorical) - set(columns)
    if unknown:
        raise ProfileError(f"categorical: unknown feature(s) {sorted(unknown)}")
    kinds: list[Kind] = []
    for name, column in columns.items():
        numeric = _is_numeric(column) and name not in categorical
        kinds.append(NUMERICAL if numeric else CATEGORICAL)
    return select(columns, tuple(columns), tuple(kinds))


def select(columns: Mapping[str, Any], names: tuple[str, ...], kinds: tuple[Kind, ...]) -> Table:
    """Build a Table from `columns` for the given feature names and kinds."""
    lengths = {len(columns[name]) for name in names if name in columns}
    missing = [name for name in names if name not in columns]
    if missing:
        raise ProfileError(f"columns: missing feature(s) {missing}")
    if len(lengths) != 1:
        raise ProfileError("columns: expected all features to have the same number of rows")
    n_rows = lengths.pop()
    numeric_names = tuple(n for n, k in zip(names, kinds, strict=True) if k == NUMERICAL)
    numeric = np.empty((len(numeric_names), n_rows), dtype=np.float64)
    for i, name in enumerate(numeric_names):
        numeric[i] = to_float(columns[name], name)
    categorical = {
        name: to_objects(columns[name])
        for name, kind in zip(names, kinds, strict=True)
        if kind == CATEGORICAL
    }
    return Table(names, kinds, numeric_names, numeric, categorical, n_rows)


def table_for(data: Any, names: tuple[str, ...], kinds: tuple[Kind, ...]) -> Table:
    """Read `data` for a known feature list (a 2-D array is taken in that column order)."""
    if all(kind == NUMERICAL for kind in kinds):
        fast = _numeric_block(data, list(names) if isinstance(data, np.ndarray) else None)
        if fast is not None and fast[0] == names:
            return Table(names, kinds, names, fast[1], {}, fast[1].shape[1])
    if hasattr(data, "columns") or isinstance(data, Mapping):
        return select(_columns(data, None), names, kinds)
    return select(_columns(data, list(names)), names, kinds)


def missing_mask(values: ObjectArray) -> npt.NDArray[np.bool_]:
    """None or NaN in an object array, elementwise without a Python loop."""
    with np.errstate(invalid="ignore"):
        return np.asarray((values == None) | (values != values), dtype=bool)  # noqa: E711
