"""Open Inference Protocol conformance over REST and gRPC for every datatype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from agentproc import Agent
from modelzoo import (
    DATATYPES,
    FIXED_BATCH,
    IDENTITY_COLS,
    IDENTITY_IN,
    IDENTITY_OUT,
    MULTI_OUTPUT,
    SAMPLE,
    SAMPLE_FEATURES,
    TWO_INPUT,
    identity_name,
    sample_array,
)
from oip import (
    binary_body,
    from_rest_output,
    grpc_outputs,
    grpc_request,
    parse_binary_response,
    rest_input,
)

from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

pytestmark = pytest.mark.timeout(120)

ALL_TYPES = list(DATATYPES)
TYPED_TYPES = [t for t in ALL_TYPES if t != "FP16"]  # OIP has no typed field for FP16


def assert_same(actual: np.ndarray, expected: np.ndarray, datatype: str) -> None:
    assert actual.shape == expected.shape
    if datatype != "BYTES":
        assert actual.dtype == DATATYPES[datatype][0]
    assert actual.tolist() == expected.tolist()


def test_rest_health_and_server_metadata(agent: Agent) -> None:
    rest = agent.rest()
    live = rest.get("/v2/health/live")
    assert (live.status, live.json()) == (200, {"live": True})
    ready = rest.get("/v2/health/ready")
    assert (ready.status, ready.json()) == (200, {"ready": True})
    meta = rest.get("/v2")
    assert meta.status == 200
    body = meta.json()
    assert body["name"] == "modelfleet"
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["extensions"], list)
    assert meta.headers["content-type"].startswith("application/json")


def test_grpc_health_and_server_metadata(agent: Agent) -> None:
    stub = agent.oip()
    assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
    assert stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    meta = stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
    assert meta.name == "modelfleet"
    assert meta.version


@pytest.mark.parametrize("datatype", ALL_TYPES)
@pytest.mark.parametrize("versioned", [False, True], ids=["latest", "v1"])
def test_model_metadata_and_ready(agent: Agent, datatype: str, versioned: bool) -> None:
    name = identity_name(datatype)
    base = f"/v2/models/{name}" + ("/versions/1" if versioned else "")
    meta = agent.rest().get(base)
    assert meta.status == 200, meta.body
    body = meta.json()
    assert body["name"] == name
    assert body["versions"] == ["1"]
    assert body["platform"] == "onnxruntime_onnx"
    tensor = {"datatype": datatype, "shape": [-1, IDENTITY_COLS]}
    assert body["inputs"] == [{"name": IDENTITY_IN, **tensor}]
    assert body["outputs"] == [{"name": IDENTITY_OUT, **tensor}]
    ready = agent.rest().get(base + "/ready")
    assert (ready.status, ready.json()) == (200, {"name": name, "ready": True})

    stub = agent.oip()
    version = "1" if versioned else ""
    reply = stub.ModelMetadata(pb.ModelMetadataRequest(name=name, version=version), timeout=10)
    assert (reply.name, list(reply.versions), reply.platform) == (name, ["1"], "onnxruntime_onnx")
    for tensors, tensor_name in ((reply.inputs, IDENTITY_IN), (reply.outputs, IDENTITY_OUT)):
        assert [(t.name, t.datatype, list(t.shape)) for t in tensors] == [
            (tensor_name, datatype, [-1, IDENTITY_COLS])
        ]
    assert stub.ModelReady(pb.ModelReadyRequest(name=name, version=version), timeout=10).ready


def test_sample_model_metadata_parameters(agent: Agent) -> None:
    body = agent.rest().get(f"/v2/models/{SAMPLE}").json()
    assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 20]}]
    assert body["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
    ]
    params = body["parameters"]
    assert params["feature_names"] == [f"f{i:02d}" for i in range(SAMPLE_FEATURES)]
    assert params["description"] == "synthetic credit-risk classifier"


@pytest.mark.parametrize("datatype", ALL_TYPES)
@pytest.mark.parametrize("versioned", [False, True], ids=["latest", "v1"])
def test_rest_infer_json(agent: Agent, datatype: str, versioned: bool) -> None:
    name = identity_name(datatype)
    array = sample_array(datatype, rows=4)
    path = f"/v2/models/{name}" + ("/versions/1" if versioned else "") + "/infer"
    resp = agent.rest().post(
        path, {"id": f"req-{datatype}", "inputs": [rest_input(IDENTITY_IN, array, datatype)]}
    )
    assert resp.status == 200, resp.body
    body = resp.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (name, "1", f"req-{datatype}")
    (output,) = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (IDENTITY_OUT, datatype, [4, 3])
    assert_same(from_rest_output(output), array, datatype)


@pytest.mark.parametrize("datatype", ["FP32", "INT64", "BOOL", "BYTES"])
def test_rest_infer_accepts_nested_data(agent: Agent, datatype: str) -> None:
    array = sample_array(datatype, rows=2)
    tensor = rest_input(IDENTITY_IN, array, datatype)
    tensor["data"] = np.array(tensor["data"], dtype=object).reshape(2, 3).tolist()
    resp = agent.rest().post(f"/v2/models/{identity_name(datatype)}/infer", {"inputs": [tensor]})
    assert resp.status == 200, resp.body
    assert_same(from_rest_output(resp.json()["outputs"][0]), array, datatype)


@pytest.mark.parametrize("datatype", ALL_TYPES)
@pytest.mark.parametrize("binary_outputs", [True, False], ids=["binary-out", "json-out"])
def test_rest_binary_extension(agent: Agent, datatype: str, binary_outputs: bool) -> None:
    array = sample_array(datatype, rows=3, seed=1)
    body, headers = binary_body(
        [(IDENTITY_IN, array, datatype)],
        outputs=[IDENTITY_OUT],
        binary_outputs=binary_outputs,
        request_id="bin",
    )
    resp = agent.rest().post(
        f"/v2/models/{identity_name(datatype)}/infer",
        body,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert resp.status == 200, resp.body
    header, arrays = parse_binary_response(resp.body, resp.headers)
    assert header["id"] == "bin"
    (output,) = header["outputs"]
    assert ("binary_data_size" in output.get("parameters", {})) == binary_outputs
    if not binary_outputs:
        assert "inference-header-content-length" not in resp.headers
    assert_same(arrays[IDENTITY_OUT], array, datatype)


@pytest.mark.parametrize("datatype", TYPED_TYPES)
def test_grpc_infer_typed_contents(agent: Agent, datatype: str) -> None:
    array = sample_array(datatype, rows=4, seed=2)
    name = identity_name(datatype)
    request = grpc_request(name, [(IDENTITY_IN, array, datatype)], raw=False, request_id="typed")
    reply = agent.oip().ModelInfer(request, timeout=10)
    assert (reply.model_name, reply.model_version, reply.id) == (name, "1", "typed")
    assert not reply.raw_output_contents, "typed request must get typed outputs"
    (output,) = reply.outputs
    assert (output.name, output.datatype, list(output.shape)) == (IDENTITY_OUT, datatype, [4, 3])
    assert_same(grpc_outputs(reply)[IDENTITY_OUT], array, datatype)


@pytest.mark.parametrize("datatype", ALL_TYPES)
@pytest.mark.parametrize("version", ["", "1"], ids=["latest", "v1"])
def test_grpc_infer_raw_contents(agent: Agent, datatype: str, version: str) -> None:
    array = sample_array(datatype, rows=5, seed=3)
    name = identity_name(datatype)
    request = grpc_request(name, [(IDENTITY_IN, array, datatype)], raw=True, version=version)
    reply = agent.oip().ModelInfer(request, timeout=10)
    assert reply.model_version == "1"
    assert len(reply.raw_output_contents) == 1, "raw request must get raw outputs"
    assert_same(grpc_outputs(reply)[IDENTITY_OUT], array, datatype)


def test_outputs_selection(agent: Agent) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    body = {"inputs": [rest_input("x", x, "FP32")], "outputs": [{"name": "total"}]}
    resp = agent.rest().post(f"/v2/models/{MULTI_OUTPUT}/infer", body)
    assert resp.status == 200, resp.body
    outputs = resp.json()["outputs"]
    assert [o["name"] for o in outputs] == ["total"]
    assert from_rest_output(outputs[0]).tolist() == [3.0, 12.0]

    full = agent.rest().post(f"/v2/models/{MULTI_OUTPUT}/infer", {"inputs": body["inputs"]})
    assert sorted(o["name"] for o in full.json()["outputs"]) == ["double", "negated", "total"]

    for raw in (False, True):
        request = grpc_request(
            MULTI_OUTPUT, [("x", x, "FP32")], raw=raw, outputs=["negated", "total"]
        )
        arrays = grpc_outputs(agent.oip().ModelInfer(request, timeout=10))
        assert sorted(arrays) == ["negated", "total"]
        assert arrays["negated"].tolist() == (-x).tolist()


def test_two_inputs_and_fixed_batch(agent: Agent) -> None:
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.full((2, 4), 0.5, dtype=np.float32)
    inputs = [
        rest_input("right", b, "FP32"),
        rest_input("left", a, "FP32"),
    ]  # order must not matter
    resp = agent.rest().post(f"/v2/models/{TWO_INPUT}/infer", {"inputs": inputs})
    assert resp.status == 200, resp.body
    assert from_rest_output(resp.json()["outputs"][0]).tolist() == (a + b).tolist()
    reply = agent.oip().ModelInfer(
        grpc_request(TWO_INPUT, [("left", a, "FP32"), ("right", b, "FP32")], raw=True), timeout=10
    )
    assert grpc_outputs(reply)["sum"].tolist() == (a + b).tolist()

    meta = agent.rest().get(f"/v2/models/{FIXED_BATCH}").json()
    assert meta["inputs"][0]["shape"] == [2, 3]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    resp = agent.rest().post(
        f"/v2/models/{FIXED_BATCH}/infer", {"inputs": [rest_input("grid", x, "FP32")]}
    )
    assert resp.status == 200, resp.body
    assert from_rest_output(resp.json()["outputs"][0]).tolist() == (-x).tolist()


def test_sample_model_matches_onnxruntime(agent: Agent, zoo: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, SAMPLE_FEATURES)).astype(np.float32)
    ort_model = ort.InferenceSession(str(zoo / SAMPLE / "1" / "model.onnx"))
    label, probabilities = ort_model.run(["label", "probabilities"], {"input": x})
    resp = agent.rest().post(
        f"/v2/models/{SAMPLE}/infer", {"inputs": [rest_input("input", x, "FP32")]}
    )
    assert resp.status == 200, resp.body
    outputs = {o["name"]: from_rest_output(o) for o in resp.json()["outputs"]}
    assert outputs["label"].tolist() == label.tolist()
    np.testing.assert_allclose(outputs["probabilities"], probabilities, rtol=1e-6)
    reply = agent.oip().ModelInfer(
        grpc_request(SAMPLE, [("input", x, "FP32")], raw=True), timeout=10
    )
    np.testing.assert_allclose(grpc_outputs(reply)["probabilities"], probabilities, rtol=1e-6)
