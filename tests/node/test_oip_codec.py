"""The OIP codec: every datatype through JSON, raw bytes, binary extension and typed gRPC."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from modelfleet.oip import (
    DATATYPES,
    TensorError,
    TensorSpec,
    build_grpc_request,
    datatype,
    datatype_of,
    decode_grpc_request,
    decode_grpc_response,
    decode_json_request,
    decode_raw,
    dumps,
    encode_grpc_response,
    encode_json_input,
    encode_json_output,
    encode_raw,
)


def sample(name: str) -> np.ndarray:
    """A 2x3 tensor of `name` with extreme values where the type has them."""
    dt = DATATYPES[name]
    if name == "BYTES":
        values = np.empty(6, dtype=object)
        values[:] = [b"", b"a", "é".encode(), b"xyz", b"0", b"longer text"]
        return values.reshape(2, 3)
    if name == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    if dt.int_range is not None:
        low, high = dt.int_range
        return np.array([[low, 0, high], [1, 2, 3]], dtype=dt.dtype)
    return np.array([[-1.5, 0.0, 2.25], [1e3, -7.0, 0.5]], dtype=dt.dtype)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert datatype_of(got) == datatype_of(want)
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("name", sorted(DATATYPES))
def test_json_round_trip(name: str) -> None:
    array = sample(name)
    body = dumps({"id": "r1", "inputs": [encode_json_input("x", array)]})
    decoded = decode_json_request(body)
    assert decoded.id == "r1"
    assert_same(decoded.inputs["x"], array)


@pytest.mark.parametrize("name", sorted(DATATYPES))
def test_raw_round_trip(name: str) -> None:
    array = sample(name)
    dt = DATATYPES[name]
    assert_same(decode_raw("x", dt, array.shape, encode_raw(dt, array)), array)


@pytest.mark.parametrize("name", sorted(DATATYPES))
@pytest.mark.parametrize("raw", [True, False])
def test_grpc_round_trip(name: str, raw: bool) -> None:
    array = sample(name)
    if name == "FP16" and not raw:
        with pytest.raises(TensorError, match="FP16 has no typed contents"):
            build_grpc_request("m", {"x": array}, raw=False)
        request = build_grpc_request("m", {"x": array.astype(np.float32)}, raw=False)
        request.inputs[0].datatype = "FP16"
        with pytest.raises(TensorError, match="FP16 has no typed contents"):
            decode_grpc_request(request)
        return
    request = decode_grpc_request(build_grpc_request("m", {"x": array}, raw=raw, request_id="q"))
    assert request.id == "q"
    assert_same(request.inputs["x"], array)
    response = encode_grpc_response("m", "1", "q", {"y": array}, raw=raw)
    # FP16 has no typed field, so such a response switches to raw contents.
    assert bool(response.raw_output_contents) == (raw or name == "FP16")
    assert_same(decode_grpc_response(response)["y"], array)


def test_binary_extension_round_trip() -> None:
    floats = sample("FP32")
    texts = sample("BYTES")
    raw_f, raw_t = encode_raw(DATATYPES["FP32"], floats), encode_raw(DATATYPES["BYTES"], texts)
    header = dumps(
        {
            "inputs": [
                {"name": "f", "datatype": "FP32", "shape": [2, 3],
                 "parameters": {"binary_data_size": len(raw_f)}},
                {"name": "t", "datatype": "BYTES", "shape": [2, 3],
                 "parameters": {"binary_data_size": len(raw_t)}},
                {"name": "j", "datatype": "INT8", "shape": [1], "data": [5]},
            ],
            "outputs": [{"name": "f", "parameters": {"binary_data": True}}, {"name": "j"}],
        }
    )  # fmt: skip
    decoded = decode_json_request(header + raw_f + raw_t, len(header))
    assert_same(decoded.inputs["f"], floats)
    assert_same(decoded.inputs["t"], texts)
    assert decoded.inputs["j"].tolist() == [5]
    assert decoded.outputs == ["f", "j"]
    assert decoded.binary_outputs == {"f"}
    tensor, raw = encode_json_output("f", floats, binary=True)
    assert tensor["parameters"] == {"binary_data_size": 24} and raw == raw_f


def test_nested_and_flat_json_data_agree() -> None:
    flat = b'{"inputs":[{"name":"x","datatype":"INT32","shape":[2,2],"data":[1,2,3,4]}]}'
    nested = b'{"inputs":[{"name":"x","datatype":"INT32","shape":[2,2],"data":[[1,2],[3,4]]}]}'
    assert decode_json_request(flat).inputs["x"].tolist() == [[1, 2], [3, 4]]
    assert decode_json_request(nested).inputs["x"].tolist() == [[1, 2], [3, 4]]


def tensor_body(datatype_name: str, shape: object, data: object) -> bytes:
    tensor = {"name": "x", "datatype": datatype_name, "shape": shape, "data": data}
    return orjson.dumps({"inputs": [tensor]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON body"),
        (b"\xff\xfe", "malformed JSON body"),
        (b"[]", "JSON object"),
        (b'{"inputs": []}', "non-empty list"),
        (b'{"inputs": [1]}', r"inputs\[0\] must be a JSON object"),
        (b'{"id": 5, "inputs": [{}]}', "'id' must be a string"),
        (tensor_body("FP99", [1], [1]), "unknown datatype 'FP99'"),
        (tensor_body("FP32", [-1], [1]), r"list of integers in \[0, "),
        (tensor_body("BOOL", [0, 2, 2**62], []), "integers in"),
        (tensor_body("BOOL", [2**30, 2**30, 0], []), "is too large"),
        (tensor_body("FP32", [2], [1]), r"shape \[2\] needs 2 values, data has 1"),
        (tensor_body("FP32", [2], ["a", "b"]), "expected FP32 values, got strings"),
        (tensor_body("INT32", [2], [1.5, 2]), "expected INT32 values, got floats"),
        (tensor_body("UINT8", [2], [1, 300]), r"do not fit UINT8 \[0, 255\]"),
        (tensor_body("INT8", [1], [-129]), "do not fit INT8"),
        (tensor_body("BOOL", [1], [1]), "expected BOOL values, got integers"),
        (tensor_body("BYTES", [2], ["a", 1]), "BYTES values as JSON strings"),
        (tensor_body("FP32", [2, 2], [[1, 2], [3]]), "not a rectangular array"),
        (tensor_body("INT64", [2], [-1, 2**64 - 1]), "do not fit INT64"),
        (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]}', "'data' is missing"),
        (
            b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]},'
            b'{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}',
            "duplicate input 'x'",
        ),
    ],
)
def test_bad_json_requests_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(TensorError, match=message):
        decode_json_request(body)


def test_binary_sizes_must_add_up() -> None:
    header = dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2],
                     "parameters": {"binary_data_size": 8}}]}
    )  # fmt: skip
    with pytest.raises(TensorError, match="exceeds the 4 bytes"):
        decode_json_request(header + b"\0" * 4, len(header))
    with pytest.raises(TensorError, match="carries 12 bytes of binary data, inputs declare 8"):
        decode_json_request(header + b"\0" * 12, len(header))
    with pytest.raises(TensorError, match="outside the body"):
        decode_json_request(header, len(header) + 1)


def test_raw_errors() -> None:
    fp32 = DATATYPES["FP32"]
    with pytest.raises(TensorError, match=r"has 7 bytes, FP32 \[2\] needs 8"):
        decode_raw("input 'x'", fp32, (2,), b"\0" * 7)
    text = DATATYPES["BYTES"]
    with pytest.raises(TensorError, match="truncated inside a length prefix"):
        decode_raw("input 'x'", text, (1,), b"\1\0")
    with pytest.raises(TensorError, match="declares 9 bytes, only 2 remain"):
        decode_raw("input 'x'", text, (1,), b"\x09\0\0\0ab")
    with pytest.raises(TensorError, match=r"holds 1 BYTES elements, shape \[2\] needs 2"):
        decode_raw("input 'x'", text, (2,), b"\1\0\0\0a")


def test_typed_contents_errors() -> None:
    request = build_grpc_request("m", {"x": np.arange(4, dtype=np.int32)}, raw=False)
    request.inputs[0].datatype = "FP32"
    with pytest.raises(TensorError, match=r"needs 4 values in fp32_contents, got 0 .*int_contents"):
        decode_grpc_request(request)
    overflow = build_grpc_request("m", {"x": np.array([1000], dtype=np.int32)}, raw=False)
    overflow.inputs[0].datatype = "INT8"
    with pytest.raises(TensorError, match="do not fit INT8"):
        decode_grpc_request(overflow)
    raw = build_grpc_request("m", {"x": np.zeros(2, np.float32), "y": np.zeros(2, np.float32)})
    del raw.raw_input_contents[1]
    with pytest.raises(TensorError, match="raw_input_contents has 1 entries for 2 inputs"):
        decode_grpc_request(raw)


def test_tensor_spec_check() -> None:
    spec = TensorSpec("input", "FP32", (-1, 20))
    spec.check(np.zeros((3, 20), np.float32))
    with pytest.raises(TensorError, match=r"input 'input': expected FP32 \[-1, 20\], got FP64"):
        spec.check(np.zeros((3, 20), np.float64))
    with pytest.raises(TensorError, match=r"got FP32 \[3, 19\]"):
        spec.check(np.zeros((3, 19), np.float32))
    assert spec.variable_first_dim
    with pytest.raises(TensorError, match="unknown datatype"):
        datatype("fp32", "input 'x'")
