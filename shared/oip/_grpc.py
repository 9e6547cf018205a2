"""gRPC tensors: ModelInferRequest/Response <-> numpy, typed contents and raw contents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from modelfleet.oip._datatypes import (
    DATATYPES,
    Datatype,
    TensorError,
    check_range,
    check_shape,
    datatype,
    datatype_for,
    element_count,
    format_shape,
)
from modelfleet.oip._json import DecodedRequest
from modelfleet.oip._raw import decode_raw, encode_raw
from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

_FIELDS = sorted({d.contents_field for d in DATATYPES.values() if d.contents_field})


def decode_typed(
    tensor: str, dt: Datatype, shape: tuple[int, ...], contents: pb.InferTensorContents
) -> np.ndarray:
    """Decode typed InferTensorContents into an array of `shape`."""
    count = element_count(shape)
    if dt.contents_field is None:
        raise TensorError(f"{tensor}: {dt.name} has no typed contents; send it in raw contents")
    values = getattr(contents, dt.contents_field)
    if len(values) != count:
        others = [f for f in _FIELDS if f != dt.contents_field and len(getattr(contents, f))]
        hint = f" (values were sent in {', '.join(others)})" if others else ""
        raise TensorError(
            f"{tensor}: {dt.name} {format_shape(shape)} needs {count} values in "
            f"{dt.contents_field}, got {len(values)}{hint}"
        )
    if dt.is_bytes:
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    wide = np.array(values)
    if dt.dtype.itemsize < wide.dtype.itemsize and count and dt.int_range is not None:
        check_range(tensor, dt, wide)
    return wide.astype(dt.dtype, copy=False).reshape(shape)


def decode_grpc_request(request: pb.ModelInferRequest) -> DecodedRequest:
    """Decode the inputs of a ModelInferRequest (typed or raw contents)."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise TensorError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs"
        )
    if not request.inputs:
        raise TensorError("request has no inputs")
    inputs: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        label = f"input '{tensor.name}'"
        if tensor.name in inputs:
            raise TensorError(f"duplicate {label}")
        if raw and tensor.HasField("contents") and tensor.contents.ByteSize():
            raise TensorError(f"{label}: has typed contents while the request uses raw contents")
        dt = datatype(tensor.datatype, label)
        shape = check_shape(list(tensor.shape), label)
        if raw:
            inputs[tensor.name] = decode_raw(label, dt, shape, raw[index])
        else:
            inputs[tensor.name] = decode_typed(label, dt, shape, tensor.contents)
    names = [out.name for out in request.outputs]
    return DecodedRequest(
        request.id, inputs, names or None, frozenset(names) if raw else frozenset(), bool(raw)
    )


def encode_grpc_response(
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Mapping[str, np.ndarray],
    raw: bool,
) -> pb.ModelInferResponse:
    """Build a ModelInferResponse; typed contents unless `raw` or a datatype has no typed field."""
    response = pb.ModelInferResponse(
        model_name=model_name, model_version=model_version, id=request_id
    )
    dts = {name: datatype_for(a, "output", name) for name, a in outputs.items()}
    raw = raw or any(dt.contents_field is None for dt in dts.values())
    for name, array in outputs.items():
        dt = dts[name]
        out = response.outputs.add(name=name, datatype=dt.name, shape=array.shape)
        if raw:
            response.raw_output_contents.append(encode_raw(dt, array))
        else:
            _fill_typed(out.contents, dt, array)
    return response


def _fill_typed(contents: pb.InferTensorContents, dt: Datatype, array: np.ndarray) -> None:
    if dt.contents_field is None:
        raise TensorError(f"{dt.name} has no typed contents; send it raw")
    values = array.ravel().tolist()
    if dt.is_bytes:
        values = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    getattr(contents, dt.contents_field).extend(values)


def build_grpc_request(
    model_name: str,
    inputs: Mapping[str, np.ndarray],
    *,
    model_version: str = "",
    request_id: str = "",
    raw: bool = True,
    outputs: Sequence[str] = (),
) -> pb.ModelInferRequest:
    """A client-side ModelInferRequest from numpy arrays (raw contents unless `raw` is False)."""
    request = pb.ModelInferRequest(
        model_name=model_name, model_version=model_version, id=request_id
    )
    for name, array in inputs.items():
        dt = datatype_for(array, "input", name)
        tensor = request.inputs.add(name=name, datatype=dt.name, shape=array.shape)
        if raw:
            request.raw_input_contents.append(encode_raw(dt, array))
        else:
            _fill_typed(tensor.contents, dt, array)
    for name in outputs:
        request.outputs.add(name=name)
    return request


def decode_grpc_response(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """A client-side decode of every output of a ModelInferResponse."""
    raw = response.raw_output_contents
    result: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(response.outputs):
        label = f"output '{tensor.name}'"
        dt = datatype(tensor.datatype, label)
        shape = check_shape(list(tensor.shape), label)
        if raw:
            result[tensor.name] = decode_raw(label, dt, shape, raw[index])
        else:
            result[tensor.name] = decode_typed(label, dt, shape, tensor.contents)
    return result
