"""Real ONNX models and requests the harnesses and their seed corpora are built from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelfleet.agent.node.sample import write_sample_model
from modelfleet.oip import build_grpc_request, dumps, encode_json_input, encode_raw
from modelfleet.oip import datatype as oip_datatype

SAMPLE = "credit-risk"
FEATURES = 20
#: identity models (name -> ONNX element type): strings, a narrow integer type, floats
IDENTITIES = {"echo-bytes": TensorProto.STRING, "echo-int8": TensorProto.INT8}
EXTERNAL_FILE = "weights.bin"
EXTERNAL_FLOATS = 16


def identity_model(elem: int) -> onnx.ModelProto:
    """x [-1, 3] -> y [-1, 3] of one element type."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", elem, [None, 3])],
        [helper.make_tensor_value_info("y", elem, [None, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def external_data_model() -> onnx.ModelProto:
    """x [4] + w [4]; w's values live in EXTERNAL_FILE (written by `write_external_data`)."""
    weight = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", EXTERNAL_FILE), ("offset", "0"), ("length", "16")):
        weight.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def write_external_data(folder: Path) -> None:
    (folder / EXTERNAL_FILE).write_bytes(np.arange(EXTERNAL_FLOATS, dtype=np.float32).tobytes())


def write_repository(models_dir: Path) -> Path:
    """A model repository: the scikit-learn sample (via skl2onnx) and the identity models."""
    write_sample_model(models_dir, SAMPLE, n_features=FEATURES)
    for name, elem in IDENTITIES.items():
        folder = models_dir / name / "1"
        folder.mkdir(parents=True, exist_ok=True)
        onnx.save(identity_model(elem), folder / "model.onnx")
    return models_dir


def sample_inputs() -> dict[str, dict[str, np.ndarray]]:
    """One valid input batch per model of `write_repository`."""
    rng = np.random.default_rng(0)
    return {
        SAMPLE: {"input": rng.normal(size=(2, FEATURES)).astype(np.float32)},
        "echo-bytes": {"x": np.array([[b"a", b"bc", b""]] * 2, dtype=object)},
        "echo-int8": {"x": np.array([[1, -2, 127]], dtype=np.int8)},
    }


def rest_bodies() -> list[tuple[str, bytes, int | None]]:
    """(model, body, Inference-Header-Content-Length) for JSON and binary-extension requests."""
    out: list[tuple[str, bytes, int | None]] = []
    for model, inputs in sample_inputs().items():
        tensors = [encode_json_input(n, a) for n, a in inputs.items()]
        out.append((model, dumps({"id": "seed", "inputs": tensors}), None))
        raw_tensors, tail = [], b""
        for tensor, (name, array) in zip(tensors, inputs.items(), strict=True):
            dt = oip_datatype(tensor["datatype"], name)
            raw = encode_raw(dt, array)
            raw_tensors.append(
                {"name": name, "datatype": dt.name, "shape": list(array.shape),
                 "parameters": {"binary_data_size": len(raw)}}
            )  # fmt: skip
            tail += raw
        head = dumps({"inputs": raw_tensors, "parameters": {"binary_data_output": True}})
        out.append((model, head + tail, len(head)))
    return out


def grpc_requests() -> list[bytes]:
    """Serialized ModelInferRequests: raw contents and typed contents."""
    return [
        build_grpc_request(model, inputs, raw=raw, request_id="seed").SerializeToString()
        for model, inputs in sample_inputs().items()
        for raw in (True, False)
    ]
