"""OIP datatypes, their numpy and ONNX Runtime equivalents, and tensor specs with checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class TensorError(ValueError):
    """A request or tensor is malformed or does not match what was declared or expected."""


@dataclass(frozen=True, slots=True)
class Datatype:
    """One OIP datatype: its numpy dtype and how it travels on the wire."""

    name: str
    dtype: np.dtype[np.generic]
    #: InferTensorContents field holding it; None when it travels only raw (FP16).
    contents_field: str | None
    #: numpy kinds accepted when decoding JSON numbers into it.
    json_kinds: str
    #: smallest and largest value of an integer datatype
    int_range: tuple[int, int] | None = None

    @property
    def is_bytes(self) -> bool:
        return self.name == "BYTES"


_INTS = "iu"
_NUMBERS = "iuf"


def _dt(name: str, dtype: str, field: str | None, kinds: str) -> Datatype:
    int_range = None
    if kinds == _INTS:
        info = np.iinfo(dtype)
        int_range = (int(info.min), int(info.max))
    return Datatype(name, np.dtype(dtype), field, kinds, int_range)


DATATYPES: dict[str, Datatype] = {
    d.name: d
    for d in (
        _dt("BOOL", "?", "bool_contents", "b"),
        _dt("UINT8", "<u1", "uint_contents", _INTS),
        _dt("UINT16", "<u2", "uint_contents", _INTS),
        _dt("UINT32", "<u4", "uint_contents", _INTS),
        _dt("UINT64", "<u8", "uint64_contents", _INTS),
        _dt("INT8", "<i1", "int_contents", _INTS),
        _dt("INT16", "<i2", "int_contents", _INTS),
        _dt("INT32", "<i4", "int_contents", _INTS),
        _dt("INT64", "<i8", "int64_contents", _INTS),
        _dt("FP16", "<f2", None, _NUMBERS),
        _dt("FP32", "<f4", "fp32_contents", _NUMBERS),
        _dt("FP64", "<f8", "fp64_contents", _NUMBERS),
        _dt("BYTES", "O", "bytes_contents", ""),
    )
}

_BY_DTYPE: dict[np.dtype[np.generic], Datatype] = {
    d.dtype: d for d in DATATYPES.values() if not d.is_bytes
}

ORT_TYPES: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def datatype(name: object, tensor: str) -> Datatype:
    """Look up an OIP datatype by name; `tensor` names the tensor in the error."""
    found = DATATYPES.get(name) if isinstance(name, str) else None
    if found is None:
        raise TensorError(
            f"{tensor}: unknown datatype {name!r}; expected one of {', '.join(DATATYPES)}"
        )
    return found


def datatype_for(array: np.ndarray, role: str, name: str) -> Datatype:
    """The OIP datatype of a numpy array; the error names the tensor ("output 'y'")."""
    found = _BY_DTYPE.get(array.dtype)  # native numeric dtypes: one lookup
    if found is not None:
        return found
    return datatype(datatype_of(array), f"{role} '{name}'")


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype name of a numpy array (object, str and bytes arrays are BYTES)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    found = _BY_DTYPE.get(array.dtype.newbyteorder("<"))
    if found is None:
        raise TensorError(f"numpy dtype {array.dtype} has no OIP datatype")
    return found.name


#: no real tensor gets near this; it keeps numpy's size arithmetic from overflowing
MAX_DIM = 2**40


def check_shape(shape: object, tensor: str) -> tuple[int, ...]:
    """Validate a declared shape: a list of non-negative integers."""
    if not isinstance(shape, list | tuple) or not all(
        type(d) is int and 0 <= d <= MAX_DIM for d in shape
    ):
        raise TensorError(
            f"{tensor}: shape must be a list of integers in [0, {MAX_DIM}], got {shape!r}"
        )
    if math.prod(d for d in shape if d) > MAX_DIM:
        raise TensorError(f"{tensor}: shape {list(shape)} is too large")
    return tuple(shape)


def check_range(tensor: str, dt: Datatype, array: np.ndarray) -> None:
    """Integers that would wrap around in `dt` are an error, not a silent overflow."""
    assert dt.int_range is not None
    low, high = array.min(), array.max()
    if low < dt.int_range[0] or high > dt.int_range[1]:
        raise TensorError(
            f"{tensor}: values [{low}, {high}] do not fit {dt.name} "
            f"[{dt.int_range[0]}, {dt.int_range[1]}]"
        )


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def format_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A declared tensor: name, OIP datatype and shape where -1 is a variable dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def variable_first_dim(self) -> bool:
        return len(self.shape) > 0 and self.shape[0] == -1

    def describe(self) -> str:
        return f"{self.datatype} {format_shape(self.shape)}"

    def matches(self, array: np.ndarray) -> bool:
        shape, wanted = array.shape, self.shape
        if len(shape) != len(wanted):
            return False
        # a loop, not all(...): no generator per request on the serving path
        for want, got in zip(wanted, shape, strict=True):
            if want != got and want != -1:
                return False
        return True

    def check(self, array: np.ndarray) -> None:
        """Raise TensorError naming this input unless `array` fits the spec."""
        if array.dtype != DATATYPES[self.datatype].dtype or not self.matches(array):
            raise TensorError(
                f"input '{self.name}': expected {self.describe()}, "
                f"got {datatype_of(array)} {format_shape(array.shape)}"
            )
