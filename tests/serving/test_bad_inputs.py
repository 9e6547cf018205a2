"""A table of bad requests over REST and gRPC: exact status, a message naming the culprit."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import pytest
from agentproc import MAX_BATCH_ROWS, MAX_BODY_BYTES, Agent, send_early_answered
from modelzoo import FIXED_BATCH, IDENTITY_IN, IDENTITY_OUT, TWO_INPUT, identity_name
from oip import binary_body, grpc_input, grpc_request, raw_bytes, rest_input

from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

pytestmark = pytest.mark.timeout(120)

FP32 = identity_name("FP32")
INFER = f"/v2/models/{FP32}/infer"
GOOD = np.arange(6, dtype=np.float32).reshape(2, 3)
ROW4 = np.ones((2, 4), dtype=np.float32)


def shape_pattern(*dims: int) -> str:
    """Dims in order with any non-digit separators: matches "[-1, 3]", "(-1, 3)", "-1x3"."""
    return r"[^\d-]+".join(re.escape(str(d)) for d in dims)


@dataclass(frozen=True)
class RestCase:
    id: str
    method: str
    path: str
    body: bytes
    status: int
    mentions: tuple[str, ...]  # regexes the error message must match (case-insensitive)
    headers: tuple[tuple[str, str], ...] = ()


def doc(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def good_input(**override: Any) -> dict[str, Any]:
    return {**rest_input(IDENTITY_IN, GOOD, "FP32"), **override}


def _binary(
    blob: bytes, declared: int, shape: list[int]
) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    header = {
        "inputs": [
            {
                "name": IDENTITY_IN,
                "datatype": "FP32",
                "shape": shape,
                "parameters": {"binary_data_size": declared},
            }
        ]
    }
    head = json.dumps(header).encode()
    return head + blob, (("Inference-Header-Content-Length", str(len(head))),)


_truncated, _truncated_headers = _binary(raw_bytes(GOOD, "FP32")[:16], 24, [2, 3])
_short, _short_headers = _binary(raw_bytes(GOOD, "FP32")[:20], 20, [2, 3])
_rows = np.zeros((MAX_BATCH_ROWS + 1, 3), dtype=np.float32)
# Valid JSON that is bigger than the body limit (most of it a long request id).
_huge = doc(good_input(), id="h" * (MAX_BODY_BYTES + 1024))

REST_CASES = [
    RestCase("wrong-dtype", "POST", INFER, doc(good_input(datatype="INT32", data=[1] * 6)),
             400, (IDENTITY_IN, "FP32", "INT32")),
    RestCase("unknown-dtype", "POST", INFER, doc(good_input(datatype="FLOAT32")),
             400, (IDENTITY_IN, "FLOAT32")),
    RestCase("wrong-shape", "POST", INFER, doc(rest_input(IDENTITY_IN, ROW4, "FP32")),
             400, (IDENTITY_IN, shape_pattern(-1, 3), shape_pattern(2, 4))),
    RestCase("data-count-mismatch", "POST", INFER, doc(good_input(data=[1.0] * 5)),
             400, (IDENTITY_IN, "5|6")),
    RestCase("strings-for-fp32", "POST", INFER, doc(good_input(data=["a"] * 6)),
             400, (IDENTITY_IN, "FP32")),
    RestCase("negative-dim", "POST", INFER, doc(good_input(shape=[-1, 3])),
             400, (IDENTITY_IN,)),
    RestCase("fixed-dim-mismatch", "POST", f"/v2/models/{FIXED_BATCH}/infer",
             doc(rest_input("grid", np.zeros((3, 3), np.float32), "FP32")),
             400, ("grid", shape_pattern(2, 3), shape_pattern(3, 3))),
    RestCase("missing-input", "POST", f"/v2/models/{TWO_INPUT}/infer",
             doc(rest_input("left", ROW4, "FP32")), 400, ("right",)),
    RestCase("extra-input", "POST", INFER, doc(good_input(), good_input(name="bogus_extra")),
             400, ("bogus_extra",)),
    RestCase("duplicate-input", "POST", INFER, doc(good_input(), good_input()),
             400, (IDENTITY_IN, "duplicate")),
    RestCase("inputs-not-a-list", "POST", INFER, b'{"inputs": {"x": 1}}', 400, ("inputs",)),
    RestCase("no-inputs", "POST", INFER, b"{}", 400, ("inputs",)),
    RestCase("malformed-json", "POST", INFER, b'{"inputs": [', 400, ("json",)),
    RestCase("not-an-object", "POST", INFER, b"[1, 2, 3]", 400, ("object|json",)),
    RestCase("non-utf8", "POST", INFER, b'{"id": "\xff\xfe", "inputs": []}', 400, ("utf-?8",)),
    RestCase("empty-body", "POST", INFER, b"", 400, ("json|body",)),
    RestCase("truncated-raw-bytes", "POST", INFER, _truncated, 400, (IDENTITY_IN,),
             _truncated_headers),
    RestCase("wrong-byte-length", "POST", INFER, _short, 400, (IDENTITY_IN, "24", "20"),
             _short_headers),
    RestCase("header-length-past-body", "POST", INFER, b"{}",
             400, ("inference-header-content-length",),
             (("Inference-Header-Content-Length", "999"),)),
    RestCase("unknown-output", "POST", INFER, doc(good_input(), outputs=[{"name": "nope_out"}]),
             400, ("nope_out",)),
    RestCase("huge-body", "POST", INFER, _huge, 413, (str(MAX_BODY_BYTES),)),
    RestCase("too-many-rows", "POST", INFER, doc(rest_input(IDENTITY_IN, _rows, "FP32")),
             413, (str(MAX_BATCH_ROWS),)),
    RestCase("unknown-model", "POST", "/v2/models/no-such-model/infer", doc(good_input()),
             404, ("no-such-model",)),
    RestCase("unknown-version", "POST", f"/v2/models/{FP32}/versions/7/infer", doc(good_input()),
             404, ("7",)),
    RestCase("unknown-model-metadata", "GET", "/v2/models/no-such-model", b"", 404,
             ("no-such-model",)),
    RestCase("unknown-model-ready", "GET", "/v2/models/no-such-model/ready", b"", 404,
             ("no-such-model",)),
    RestCase("unknown-route", "GET", "/v2/nowhere", b"", 404, ()),
    RestCase("get-infer", "GET", INFER, b"", 405, ()),
    RestCase("delete-live", "DELETE", "/v2/health/live", b"", 405, ()),
    RestCase("post-metadata", "POST", f"/v2/models/{FP32}", doc(good_input()), 405, ()),
]  # fmt: skip


@pytest.mark.parametrize("case", REST_CASES, ids=lambda c: c.id)
def test_rest_bad_request(agent: Agent, case: RestCase) -> None:
    if case.status == 413:
        resp = send_early_answered(agent.http_port, case.method, case.path, case.body)
    else:
        rest = agent.rest()
        resp = rest.request(case.method, case.path, case.body, headers=dict(case.headers))
        rest.close()
    assert resp.status == case.status, resp.body[:500]
    message = resp.error
    for pattern in case.mentions:
        assert re.search(pattern, message, re.IGNORECASE), f"{pattern!r} not in {message!r}"


@dataclass(frozen=True)
class GrpcCase:
    id: str
    request: Callable[[], pb.ModelInferRequest]
    code: grpc.StatusCode
    mentions: tuple[str, ...]


def _identity(raw: bool = False, array: Any = GOOD, **kw: Any) -> pb.ModelInferRequest:
    return grpc_request(FP32, [(IDENTITY_IN, array, "FP32")], raw=raw, **kw)


def _retyped() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=FP32)
    request.inputs.append(grpc_input(IDENTITY_IN, GOOD.astype(np.int32), "INT32"))
    return request


def _wrong_field() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=FP32)
    tensor = request.inputs.add(name=IDENTITY_IN, datatype="FP32", shape=[2, 3])
    tensor.contents.int_contents.extend(range(6))
    return request


def _count_mismatch() -> pb.ModelInferRequest:
    request = _identity()
    del request.inputs[0].contents.fp32_contents[-1]
    return request


def _truncated_raw() -> pb.ModelInferRequest:
    request = _identity(raw=True)
    request.raw_input_contents[0] = request.raw_input_contents[0][:20]
    return request


def _extra_raw() -> pb.ModelInferRequest:
    request = _identity(raw=True)
    request.raw_input_contents.append(b"\0" * 24)
    return request


def _raw_and_typed() -> pb.ModelInferRequest:
    request = _identity()
    request.raw_input_contents.append(raw_bytes(GOOD, "FP32"))
    return request


def _duplicate() -> pb.ModelInferRequest:
    request = _identity()
    request.inputs.append(grpc_input(IDENTITY_IN, GOOD, "FP32"))
    return request


def _extra_input() -> pb.ModelInferRequest:
    request = _identity()
    request.inputs.append(grpc_input("bogus_extra", GOOD, "FP32"))
    return request


INVALID = grpc.StatusCode.INVALID_ARGUMENT
GRPC_CASES = [
    GrpcCase("wrong-dtype", _retyped, INVALID, (IDENTITY_IN, "FP32", "INT32")),
    GrpcCase("wrong-contents-field", _wrong_field, INVALID, (IDENTITY_IN,)),
    GrpcCase("wrong-shape", lambda: _identity(array=ROW4), INVALID,
             (IDENTITY_IN, shape_pattern(-1, 3), shape_pattern(2, 4))),
    GrpcCase("count-mismatch", _count_mismatch, INVALID, (IDENTITY_IN,)),
    GrpcCase("missing-input",
             lambda: grpc_request(TWO_INPUT, [("left", ROW4, "FP32")], raw=False), INVALID,
             ("right",)),
    GrpcCase("extra-input", _extra_input, INVALID, ("bogus_extra",)),
    GrpcCase("duplicate-input", _duplicate, INVALID, (IDENTITY_IN, "duplicate")),
    GrpcCase("truncated-raw", _truncated_raw, INVALID, (IDENTITY_IN, "24", "20")),
    GrpcCase("raw-count-mismatch", _extra_raw, INVALID, ("raw_input_contents",)),
    GrpcCase("raw-and-typed", _raw_and_typed, INVALID, (IDENTITY_IN,)),
    GrpcCase("unknown-output", lambda: _identity(outputs=["nope_out"]), INVALID, ("nope_out",)),
    GrpcCase("too-many-rows", lambda: _identity(raw=True, array=_rows),
             grpc.StatusCode.RESOURCE_EXHAUSTED, (str(MAX_BATCH_ROWS),)),
    GrpcCase("huge-message",
             lambda: _identity(raw=True, request_id="h" * (MAX_BODY_BYTES + 1024)),
             grpc.StatusCode.RESOURCE_EXHAUSTED, ()),
    GrpcCase("unknown-model",
             lambda: grpc_request("no-such-model", [(IDENTITY_IN, GOOD, "FP32")], raw=True),
             grpc.StatusCode.NOT_FOUND, ("no-such-model",)),
    GrpcCase("unknown-version", lambda: _identity(version="7"), grpc.StatusCode.NOT_FOUND,
             ("7",)),
]  # fmt: skip


@pytest.mark.parametrize("case", GRPC_CASES, ids=lambda c: c.id)
def test_grpc_bad_request(agent: Agent, case: GrpcCase) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        agent.oip().ModelInfer(case.request(), timeout=10)
    error: Any = caught.value
    assert error.code() == case.code, error.details()
    for pattern in case.mentions:
        assert re.search(pattern, error.details(), re.IGNORECASE), (pattern, error.details())


def test_grpc_metadata_of_unknown_model(agent: Agent) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        agent.oip().ModelMetadata(pb.ModelMetadataRequest(name="no-such-model"), timeout=10)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in error.details()


def test_agent_serves_after_the_tables(agent: Agent) -> None:
    assert agent.alive()
    body, headers = binary_body([(IDENTITY_IN, GOOD, "FP32")], outputs=[IDENTITY_OUT])
    resp = agent.rest().post(INFER, body, headers=headers)
    assert resp.status == 200, resp.body
    reply = agent.oip().ModelInfer(_identity(raw=True), timeout=10)
    assert reply.raw_output_contents[0] == raw_bytes(GOOD, "FP32")
