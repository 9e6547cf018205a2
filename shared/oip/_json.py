"""REST (JSON) tensors: decode requests incl. the binary data extension, encode outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelfleet.oip._datatypes import (
    Datatype,
    TensorError,
    check_range,
    check_shape,
    datatype,
    datatype_for,
    element_count,
    format_shape,
)
from modelfleet.oip._raw import decode_raw, encode_raw

#: HTTP header giving the length of the JSON part of a body that carries binary tensors.
HEADER_LENGTH = "inference-header-content-length"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


@dataclass(slots=True)
class DecodedRequest:
    """An inference request with its tensors decoded to numpy arrays."""

    id: str
    inputs: dict[str, np.ndarray]
    #: Requested output names; None means every output.
    outputs: list[str] | None = None
    #: Outputs to send as binary data (REST extension) or raw contents (gRPC).
    binary_outputs: frozenset[str] = field(default_factory=frozenset)
    binary_all: bool = False


def dumps(value: Any) -> bytes:
    """Serialise to JSON; numpy arrays are written as (nested) lists."""
    return orjson.dumps(value, option=_NUMPY)


def decode_json_data(tensor: str, dt: Datatype, shape: tuple[int, ...], data: Any) -> np.ndarray:
    """Decode JSON `data` (flat or nested row-major) into an array of `shape`."""
    count = element_count(shape)
    if dt.is_bytes:
        return _decode_strings(tensor, shape, count, data)
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise TensorError(f"{tensor}: data is not a rectangular array ({exc})") from None
    if array.size != count:
        raise TensorError(
            f"{tensor}: shape {format_shape(shape)} needs {count} values, data has {array.size}"
        )
    if count and array.dtype.kind not in dt.json_kinds:
        if dt.int_range is None or array.dtype.kind not in "fO":
            raise TensorError(f"{tensor}: expected {dt.name} values, got {_describe(array)}")
        # Integers beyond int64 make numpy fall back to floats or objects: check them exactly.
        return _exact_integers(tensor, dt, data, shape)
    if array.dtype != dt.dtype and count and dt.int_range is not None:
        check_range(tensor, dt, array)
    return array.astype(dt.dtype, copy=False).reshape(shape)


def _exact_integers(tensor: str, dt: Datatype, data: Any, shape: tuple[int, ...]) -> np.ndarray:
    assert dt.int_range is not None
    values = np.array(data, dtype=object).ravel().tolist()
    if not all(type(v) is int for v in values):
        got = "floats" if any(type(v) is float for v in values) else "non-integer values"
        raise TensorError(f"{tensor}: expected {dt.name} values, got {got}")
    low, high = min(values), max(values)
    if low < dt.int_range[0] or high > dt.int_range[1]:
        raise TensorError(
            f"{tensor}: values [{low}, {high}] do not fit {dt.name} "
            f"[{dt.int_range[0]}, {dt.int_range[1]}]"
        )
    return np.array(values, dtype=dt.dtype).reshape(shape)


def _describe(array: np.ndarray) -> str:
    kinds = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats", "U": "strings"}
    return kinds.get(array.dtype.kind, "mixed or non-numeric values")


def _decode_strings(tensor: str, shape: tuple[int, ...], count: int, data: Any) -> np.ndarray:
    try:
        nested = np.array(data, dtype=object)
    except (ValueError, TypeError) as exc:
        raise TensorError(f"{tensor}: data is not a rectangular array ({exc})") from None
    flat = nested.ravel().tolist()
    if len(flat) != count:
        raise TensorError(
            f"{tensor}: shape {format_shape(shape)} needs {count} values, data has {len(flat)}"
        )
    if not all(type(item) is str for item in flat):
        raise TensorError(f"{tensor}: expected BYTES values as JSON strings")
    array = np.empty(count, dtype=object)
    array[:] = [item.encode() for item in flat]
    return array.reshape(shape)


def decode_json_request(body: bytes, header_length: int | None = None) -> DecodedRequest:
    """Decode an OIP REST infer body; `header_length` splits off binary tensor data."""
    tail = b""
    if header_length is not None:
        if not 0 <= header_length <= len(body):
            raise TensorError(
                f"Inference-Header-Content-Length {header_length} is outside the body "
                f"of {len(body)} bytes"
            )
        body, tail = body[:header_length], body[header_length:]
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TensorError(f"malformed JSON body: {exc}") from None
    if type(obj) is not dict:
        raise TensorError("request body must be a JSON object with an 'inputs' list")
    request_id = obj.get("id", "")
    if type(request_id) is not str:
        raise TensorError("'id' must be a string")
    raw_inputs = obj.get("inputs")
    if type(raw_inputs) is not list or not raw_inputs:
        raise TensorError("'inputs' must be a non-empty list of tensors")
    inputs, used = _decode_inputs(raw_inputs, memoryview(tail))
    if used != len(tail):
        raise TensorError(
            f"body carries {len(tail)} bytes of binary data, inputs declare {used} "
            "(binary_data_size)"
        )
    request = DecodedRequest(request_id, inputs)
    _decode_outputs(obj, request)
    return request


def _decode_inputs(raw_inputs: list[Any], tail: memoryview) -> tuple[dict[str, np.ndarray], int]:
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for index, tensor in enumerate(raw_inputs):
        if type(tensor) is not dict:
            raise TensorError(f"inputs[{index}] must be a JSON object")
        name = tensor.get("name")
        if type(name) is not str:
            raise TensorError(f"inputs[{index}]: 'name' must be a string")
        label = f"input '{name}'"
        if name in inputs:
            raise TensorError(f"duplicate {label}")
        dt = datatype(tensor.get("datatype"), label)
        shape = check_shape(tensor.get("shape"), label)
        params = tensor.get("parameters")
        size = params.get("binary_data_size") if type(params) is dict else None
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(tail):
                raise TensorError(
                    f"{label}: binary_data_size {size!r} exceeds the {len(tail) - offset} "
                    "bytes of binary data left"
                )
            inputs[name] = decode_raw(label, dt, shape, bytes(tail[offset : offset + size]))
            offset += size
        elif "data" in tensor:
            inputs[name] = decode_json_data(label, dt, shape, tensor["data"])
        else:
            raise TensorError(f"{label}: 'data' is missing")
    return inputs, offset


def _decode_outputs(obj: dict[str, Any], request: DecodedRequest) -> None:
    params = obj.get("parameters")
    request.binary_all = type(params) is dict and params.get("binary_data_output") is True
    outputs = obj.get("outputs")
    if outputs is None:
        return
    if type(outputs) is not list:
        raise TensorError("'outputs' must be a list of {\"name\": ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for index, out in enumerate(outputs):
        name = out.get("name") if type(out) is dict else None
        if type(name) is not str:
            raise TensorError(f"outputs[{index}]: 'name' must be a string")
        names.append(name)
        params = out.get("parameters")
        if type(params) is dict and params.get("binary_data") is True:
            binary.add(name)
    request.outputs = names or None
    request.binary_outputs = frozenset(binary)


def encode_json_output(name: str, array: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes]:
    """One output tensor as a JSON object; with `binary` its data goes in the returned bytes."""
    dt = datatype_for(array, "output", name)
    tensor: dict[str, Any] = {"name": name, "datatype": dt.name, "shape": list(array.shape)}
    if binary:
        raw = encode_raw(dt, array)
        tensor["parameters"] = {"binary_data_size": len(raw)}
        return tensor, raw
    if dt.is_bytes:
        tensor["data"] = [
            item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
            for item in array.ravel().tolist()
        ]
    else:
        tensor["data"] = np.ascontiguousarray(array).ravel()
    return tensor, b""


def encode_json_input(name: str, array: np.ndarray) -> dict[str, Any]:
    """A client-side input tensor as a JSON object (pass through `dumps`)."""
    tensor, _ = encode_json_output(name, array, binary=False)
    return tensor


def decode_json_output(tensor: dict[str, Any]) -> np.ndarray:
    """A client-side decode of one JSON output tensor (without binary data)."""
    name = str(tensor.get("name"))
    label = f"output '{name}'"
    dt = datatype(tensor.get("datatype"), label)
    return decode_json_data(label, dt, check_shape(tensor.get("shape"), label), tensor.get("data"))
