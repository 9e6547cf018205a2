"""Raw tensor bytes (gRPC raw contents, REST binary extension): little-endian, row-major."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelfleet.oip._datatypes import Datatype, TensorError, element_count, format_shape

_LENGTH = 4


def decode_raw(tensor: str, dt: Datatype, shape: Sequence[int], data: bytes) -> np.ndarray:
    """Decode raw bytes into an array of `shape`; BYTES elements carry a 4-byte length."""
    count = element_count(shape)
    if dt.is_bytes:
        return _decode_bytes(tensor, shape, count, data)
    expected = count * dt.dtype.itemsize
    if len(data) != expected:
        raise TensorError(
            f"{tensor}: raw data has {len(data)} bytes, "
            f"{dt.name} {format_shape(shape)} needs {expected}"
        )
    return np.frombuffer(data, dtype=dt.dtype).reshape(shape)


def _decode_bytes(tensor: str, shape: Sequence[int], count: int, data: bytes) -> np.ndarray:
    items: list[bytes] = []
    view = memoryview(data)
    offset, end = 0, len(data)
    while offset < end:
        if offset + _LENGTH > end:
            raise TensorError(f"{tensor}: raw BYTES data is truncated inside a length prefix")
        size = int.from_bytes(view[offset : offset + _LENGTH], "little")
        offset += _LENGTH
        if offset + size > end:
            raise TensorError(
                f"{tensor}: raw BYTES element {len(items)} declares {size} bytes, "
                f"only {end - offset} remain"
            )
        items.append(bytes(view[offset : offset + size]))
        offset += size
    if len(items) != count:
        raise TensorError(
            f"{tensor}: raw data holds {len(items)} BYTES elements, "
            f"shape {format_shape(shape)} needs {count}"
        )
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(shape)


def encode_raw(dt: Datatype, array: np.ndarray) -> bytes:
    """Encode an array as raw bytes for datatype `dt`."""
    if dt.is_bytes:
        parts: list[bytes] = []
        for item in array.ravel().tolist():
            value = item if isinstance(item, bytes) else str(item).encode()
            parts.append(len(value).to_bytes(_LENGTH, "little"))
            parts.append(value)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=dt.dtype).tobytes()
