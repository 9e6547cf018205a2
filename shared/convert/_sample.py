"""Turn a caller's sample input (array, DataFrame, tensor) into the array ONNX Runtime is fed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelfleet.convert._errors import InvalidSampleInput

FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)
# Kinds numpy can cast to float without losing meaning: bool, signed/unsigned int, float.
_NUMERIC_KINDS = "biuf"


@dataclass(frozen=True)
class TabularSample:
    """A 2-D sample: `array` in the ONNX input dtype, `original` for the native model."""

    array: NDArray[Any]
    original: object
    feature_names: tuple[str, ...] | None

    @property
    def n_features(self) -> int:
        return int(self.array.shape[1])


def to_numpy(sample_input: object) -> tuple[NDArray[Any], tuple[str, ...] | None]:
    """Return `sample_input` as a numeric numpy array and its column names (DataFrames only)."""
    if sample_input is None:
        raise InvalidSampleInput("sample_input is required: pass a few rows of real input")
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(sample_input, pandas.Series):
        raise InvalidSampleInput(
            "sample_input is a pandas Series; expected a 2-D DataFrame or array "
            "(use series.to_frame().T for one row)"
        )
    if pandas is not None and isinstance(sample_input, pandas.DataFrame):
        return _dataframe_to_numpy(sample_input)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(sample_input, torch.Tensor):
        sample_input = sample_input.detach().cpu().numpy()
    try:
        array = np.asarray(sample_input)
    except (TypeError, ValueError) as exc:
        raise InvalidSampleInput(
            f"sample_input of type {type(sample_input).__name__} is not array-like: {exc}"
        ) from exc
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise InvalidSampleInput(
            f"sample_input has dtype {array.dtype}; expected numbers (float32 or float64)"
        )
    return array, None


def _dataframe_to_numpy(frame: Any) -> tuple[NDArray[Any], tuple[str, ...]]:
    dtypes = [np.dtype(d) if isinstance(d, np.dtype) else None for d in frame.dtypes]
    bad = [
        f"{name!s} ({frame.dtypes.iloc[i]})"
        for i, (name, dtype) in enumerate(zip(frame.columns, dtypes, strict=True))
        if dtype is None or dtype.kind not in _NUMERIC_KINDS
    ]
    if bad:
        raise InvalidSampleInput(
            "sample_input columns must be numeric; encode these first: " + ", ".join(bad)
        )
    common = np.result_type(*dtypes) if dtypes else FLOAT32
    return frame.to_numpy(dtype=common), tuple(str(c) for c in frame.columns)


def tabular_sample(
    sample_input: object,
    *,
    feature_names: Sequence[str] | None,
    accepted_dtypes: Sequence[np.dtype[Any]],
    n_features: int | None,
) -> TabularSample:
    """Validate a 2-D sample and pick the ONNX input dtype.

    The dtype is the sample's own when the converter accepts it, else the first accepted
    one (float32): integer and boolean columns become floats.
    """
    array, columns = to_numpy(sample_input)
    if array.ndim != 2:
        hint = " (use x.reshape(1, -1) for a single row)" if array.ndim == 1 else ""
        raise InvalidSampleInput(
            f"sample_input must be 2-D [rows, features]; got shape {array.shape}{hint}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidSampleInput(
            f"sample_input has shape {array.shape}; expected at least one row and one feature"
        )
    if n_features is not None and array.shape[1] != n_features:
        raise InvalidSampleInput(
            f"sample_input has {array.shape[1]} columns; the model was fitted on {n_features} "
            "features"
        )
    names = check_feature_names(feature_names, columns, array.shape[1])
    dtype = array.dtype if array.dtype in accepted_dtypes else accepted_dtypes[0]
    return TabularSample(np.ascontiguousarray(array, dtype=dtype), sample_input, names)


def check_feature_names(
    given: Sequence[str] | None, columns: tuple[str, ...] | None, width: int
) -> tuple[str, ...] | None:
    """The validated feature names: `given`, else the DataFrame `columns`, else None."""
    if given is None:
        return columns
    if isinstance(given, str):
        raise InvalidSampleInput("feature_names must be a sequence of strings, not one string")
    names = tuple(given)
    if not all(isinstance(n, str) and n for n in names):
        raise InvalidSampleInput("feature_names must all be non-empty strings")
    if len(names) != width:
        raise InvalidSampleInput(
            f"feature_names has {len(names)} names; sample_input has {width} columns"
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidSampleInput(f"feature_names must be unique; repeated: {', '.join(dupes)}")
    if columns is not None and columns != names:
        raise InvalidSampleInput(
            f"feature_names {list(names)} differ from the DataFrame columns {list(columns)}; "
            "pass one or the other"
        )
    return names


def cast_for_input(
    sample_input: object, *, dtype: np.dtype[Any], shape: Sequence[int | None]
) -> NDArray[Any]:
    """The sample as the converted model's input: rank and fixed dims checked, dtype cast."""
    array, _ = to_numpy(sample_input)
    if array.ndim != len(shape):
        raise InvalidSampleInput(
            f"sample_input has shape {array.shape}; the model input expects "
            f"{len(shape)} dimensions {_shape_text(shape)}"
        )
    if array.shape[0] == 0:
        raise InvalidSampleInput("sample_input has no rows; expected at least one")
    for axis, (got, want) in enumerate(zip(array.shape, shape, strict=True)):
        if want is not None and got != want:
            raise InvalidSampleInput(
                f"sample_input has shape {array.shape}; dimension {axis} must be {want} "
                f"(model input {_shape_text(shape)})"
            )
    return np.ascontiguousarray(array, dtype=dtype)


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"
