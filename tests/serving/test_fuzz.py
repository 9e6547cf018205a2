"""Property-based fuzzing of REST bodies and gRPC requests: never a 5xx, the agent lives on."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from agentproc import Agent, Rest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelzoo import DATATYPES, FIXED_BATCH, IDENTITY_IN, MULTI_OUTPUT, TWO_INPUT, identity_name
from oip import TYPED_FIELD

from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

pytestmark = pytest.mark.timeout(150)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MODELS = [identity_name(t) for t in ("FP32", "INT8", "UINT64", "BOOL", "FP16", "BYTES")]
MODELS += [TWO_INPUT, FIXED_BATCH, MULTI_OUTPUT, "credit-risk", "no-such-model"]
NAMES = [IDENTITY_IN, "left", "right", "grid", "x", "input", "", "value_out"]
DTYPE_NAMES = [*DATATYPES, "", "FLOAT", "fp32", "INT128"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=24,
)
dims = st.one_of(st.integers(min_value=-2, max_value=6), st.sampled_from([2**31, 2**40, 2**63 - 1]))
rest_tensor = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES) | st.text(max_size=6)},
    optional={
        "datatype": st.sampled_from(DTYPE_NAMES) | json_scalars,
        "shape": st.lists(dims, max_size=4) | json_values,
        "data": json_values,
        "parameters": st.fixed_dictionaries(
            {}, optional={"binary_data_size": st.integers(-5, 64) | json_scalars}
        ),
    },
)
rest_document = st.fixed_dictionaries(
    {},
    optional={
        "id": json_scalars,
        "inputs": st.lists(rest_tensor, max_size=3) | json_values,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(NAMES) | json_scalars}), max_size=3
        )
        | json_values,
        "parameters": json_values,
    },
)


@pytest.fixture(scope="module")
def rest(agent: Agent) -> Rest:
    return agent.rest()


@pytest.fixture(scope="module")
def stub(agent: Agent) -> Any:
    return agent.oip()


@st.composite
def rest_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    model = draw(st.sampled_from(MODELS))
    version = draw(st.sampled_from(["", "/versions/1", "/versions/2", "/versions/x"]))
    kind = draw(st.sampled_from(["document", "json", "bytes"]))
    if kind == "document":
        body = json.dumps(draw(rest_document)).encode()
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    else:
        body = draw(st.binary(max_size=256))
    headers = {}
    if draw(st.booleans()):
        body += draw(st.binary(max_size=64))
        headers["Inference-Header-Content-Length"] = str(draw(st.integers(-2, len(body) + 8)))
    return f"/v2/models/{model}{version}/infer", body, headers


@FUZZ
@given(request=rest_requests())
def test_rest_fuzz_never_5xx(rest: Rest, request: tuple[str, bytes, dict[str, str]]) -> None:
    path, body, headers = request
    resp = rest.post(path, body, headers=headers)
    assert resp.status in (200, 400, 404, 413), (resp.status, resp.body[:300])
    if resp.status != 200:
        assert resp.error


typed_values = {
    "bool_contents": st.lists(st.booleans(), max_size=8),
    "int_contents": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8),
    "int64_contents": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8),
    "uint_contents": st.lists(st.integers(0, 2**32 - 1), max_size=8),
    "uint64_contents": st.lists(st.integers(0, 2**64 - 1), max_size=8),
    "fp32_contents": st.lists(st.floats(width=32), max_size=8),
    "fp64_contents": st.lists(st.floats(), max_size=8),
    "bytes_contents": st.lists(st.binary(max_size=8), max_size=8),
}


@st.composite
def grpc_requests(draw: st.DrawFn) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from(MODELS)),
        model_version=draw(st.sampled_from(["", "1", "2", "-1", "x"])),
        id=draw(st.text(max_size=8)),
    )
    for _ in range(draw(st.integers(0, 3))):
        datatype = draw(st.sampled_from(DTYPE_NAMES))
        tensor = request.inputs.add(
            name=draw(st.sampled_from(NAMES)),
            datatype=datatype,
            shape=draw(st.lists(st.integers(-2, 6) | st.sampled_from([2**40, 2**62]), max_size=4)),
        )
        if draw(st.booleans()):
            field = draw(
                st.sampled_from([TYPED_FIELD.get(datatype, "fp32_contents"), *typed_values])
            )
            getattr(tensor.contents, field).extend(draw(typed_values[field]))
    if draw(st.booleans()):
        request.raw_input_contents.extend(draw(st.lists(st.binary(max_size=64), max_size=3)))
    for name in draw(st.lists(st.sampled_from([*NAMES, "total", "sum"]), max_size=2)):
        request.outputs.add(name=name)
    return request


@FUZZ
@given(request=grpc_requests())
def test_grpc_fuzz_never_internal(stub: Any, request: pb.ModelInferRequest) -> None:
    try:
        stub.ModelInfer(request, timeout=10)
    except grpc.RpcError as exc:
        error: Any = exc
        assert error.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ), (error.code(), error.details(), request)


def test_agent_alive_after_fuzzing(agent: Agent) -> None:
    assert agent.alive()
