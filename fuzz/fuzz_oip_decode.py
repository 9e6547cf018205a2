"""Fuzz the OIP tensor codec: REST JSON bodies (with the binary extension) and gRPC requests.

Input layout (make_seeds.py writes seeds in it): byte 0 picks the path --
0: a JSON body; 1: bytes 1-2 are Inference-Header-Content-Length (little-endian), the rest
is the body; 2: a serialized ModelInferRequest. Only TensorError may escape the codec, and
every decoded tensor must survive a raw encode/decode round trip unchanged.
"""

from __future__ import annotations

import atheris
from _harness import fuzz

with atheris.instrument_imports(include=["modelfleet.oip"]):
    import numpy as np
    from google.protobuf.message import DecodeError

    from modelfleet.oip import (
        DecodedRequest,
        TensorError,
        datatype,
        datatype_of,
        decode_grpc_request,
        decode_json_request,
        decode_raw,
        encode_raw,
    )
    from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

REST_JSON, REST_BINARY, GRPC = 0, 1, 2


def decode(data: bytes) -> DecodedRequest | None:
    """The codec's answer for one fuzz input; None where the transport would refuse first."""
    mode, body = data[0] % 3, data[1:]
    if mode == REST_JSON:
        return decode_json_request(body)
    if mode == REST_BINARY:
        return decode_json_request(body[2:], int.from_bytes(body[:2], "little"))
    try:
        request = pb.ModelInferRequest.FromString(body)
    except DecodeError:
        return None  # grpc refuses an unparsable message before any servicer sees it
    return decode_grpc_request(request)


def check_round_trip(name: str, array: np.ndarray) -> None:
    dt = datatype(datatype_of(array), name)
    again = decode_raw(name, dt, array.shape, encode_raw(dt, array))
    assert again.shape == array.shape and again.dtype == array.dtype, (name, again, array)
    if dt.is_bytes:
        assert again.ravel().tolist() == array.ravel().tolist(), name
    else:
        assert again.tobytes() == np.ascontiguousarray(array).tobytes(), name


def test_one_input(data: bytes) -> None:
    if not data:
        return
    try:
        decoded = decode(data)
    except TensorError:
        return
    if decoded is None:
        return
    assert decoded.inputs, "a decoded request has at least one input"
    for name, array in decoded.inputs.items():
        assert isinstance(array, np.ndarray), (name, type(array))
        check_round_trip(name, array)


if __name__ == "__main__":
    fuzz(test_one_input)
