"""Client-side Open Inference Protocol encoding: numpy <-> REST JSON, binary extension, gRPC."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
from modelzoo import DATATYPES

from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

# OIP datatype -> InferTensorContents field; FP16 has none and travels only as raw bytes.
TYPED_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def json_data(array: Any) -> list[Any]:
    """Flat row-major JSON values of an array (BYTES as strings)."""
    flat = np.asarray(array).reshape(-1)
    if flat.dtype == object:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    return [v.item() for v in flat]


def rest_input(name: str, array: Any, datatype: str) -> dict[str, Any]:
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(np.shape(array)),
        "data": json_data(array),
    }


def from_rest_output(output: dict[str, Any]) -> Any:
    """An output of a JSON infer response as a numpy array of its datatype."""
    return np.array(output["data"], dtype=DATATYPES[output["datatype"]][0]).reshape(output["shape"])


def raw_bytes(array: Any, datatype: str) -> bytes:
    """OIP raw encoding: little-endian values; BYTES as 4-byte length + bytes per element."""
    if datatype == "BYTES":
        parts = []
        for value in np.asarray(array).reshape(-1):
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    dtype = DATATYPES[datatype][0].newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def from_raw(data: bytes, datatype: str, shape: list[int]) -> Any:
    if datatype == "BYTES":
        values, offset = [], 0
        while offset < len(data):
            (size,) = struct.unpack_from("<I", data, offset)
            values.append(data[offset + 4 : offset + 4 + size].decode())
            offset += 4 + size
        return np.array(values, dtype=object).reshape(shape)
    dtype = DATATYPES[datatype][0].newbyteorder("<")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def binary_body(
    inputs: list[tuple[str, Any, str]],
    outputs: list[str] | None = None,
    binary_outputs: bool = True,
    request_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A binary tensor data extension request (as Triton's HTTP client sends it)."""
    header: dict[str, Any] = {"inputs": []}
    if request_id is not None:
        header["id"] = request_id
    blobs = []
    for name, array, datatype in inputs:
        blob = raw_bytes(array, datatype)
        blobs.append(blob)
        header["inputs"].append(
            {
                "name": name,
                "datatype": datatype,
                "shape": list(np.shape(array)),
                "parameters": {"binary_data_size": len(blob)},
            }
        )
    if outputs is not None:
        header["outputs"] = [
            {"name": name, "parameters": {"binary_data": binary_outputs}} for name in outputs
        ]
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def parse_binary_response(
    body: bytes, headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a (possibly binary) infer response into its JSON header and decoded outputs."""
    size = int(headers.get("inference-header-content-length", len(body)))
    header = json.loads(body[:size])
    offset = size
    arrays = {}
    for output in header["outputs"]:
        nbytes = output.get("parameters", {}).get("binary_data_size")
        if nbytes is None:
            arrays[output["name"]] = from_rest_output(output)
        else:
            blob = body[offset : offset + nbytes]
            offset += nbytes
            arrays[output["name"]] = from_raw(blob, output["datatype"], output["shape"])
    assert offset == len(body), f"{len(body) - offset} trailing bytes after the outputs"
    return header, arrays


def grpc_input(name: str, array: Any, datatype: str) -> pb.ModelInferRequest.InferInputTensor:
    """A typed-contents gRPC input tensor."""
    tensor = pb.ModelInferRequest.InferInputTensor(
        name=name, datatype=datatype, shape=list(np.shape(array))
    )
    values = np.asarray(array).reshape(-1)
    if datatype == "BYTES":
        tensor.contents.bytes_contents.extend(str(v).encode() for v in values)
    else:
        getattr(tensor.contents, TYPED_FIELD[datatype]).extend(v.item() for v in values)
    return tensor


def grpc_request(
    model: str,
    inputs: list[tuple[str, Any, str]],
    raw: bool,
    version: str = "",
    outputs: list[str] | None = None,
    request_id: str = "",
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    for name, array, datatype in inputs:
        if raw:
            request.inputs.add(name=name, datatype=datatype, shape=list(np.shape(array)))
            request.raw_input_contents.append(raw_bytes(array, datatype))
        else:
            request.inputs.append(grpc_input(name, array, datatype))
    for name in outputs or []:
        request.outputs.add(name=name)
    return request


def grpc_outputs(response: pb.ModelInferResponse) -> dict[str, Any]:
    """Decode a gRPC infer response, raw or typed, into numpy arrays by output name."""
    arrays = {}
    for i, output in enumerate(response.outputs):
        shape = list(output.shape)
        if response.raw_output_contents:
            arrays[output.name] = from_raw(response.raw_output_contents[i], output.datatype, shape)
        elif output.datatype == "BYTES":
            values = [v.decode() for v in output.contents.bytes_contents]
            arrays[output.name] = np.array(values, dtype=object).reshape(shape)
        else:
            values = list(getattr(output.contents, TYPED_FIELD[output.datatype]))
            dtype = DATATYPES[output.datatype][0]
            arrays[output.name] = np.array(values, dtype=dtype).reshape(shape)
    return arrays
