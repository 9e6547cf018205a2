"""Real ONNX test models built with onnx.helper, one per serving behaviour the tests need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelfleet.agent.node.sample import write_sample_model

# OIP datatype -> (numpy dtype, ONNX element type); BYTES travels as numpy object arrays.
DATATYPES: dict[str, tuple[np.dtype[Any], int]] = {
    "BOOL": (np.dtype(np.bool_), TensorProto.BOOL),
    "UINT8": (np.dtype(np.uint8), TensorProto.UINT8),
    "UINT16": (np.dtype(np.uint16), TensorProto.UINT16),
    "UINT32": (np.dtype(np.uint32), TensorProto.UINT32),
    "UINT64": (np.dtype(np.uint64), TensorProto.UINT64),
    "INT8": (np.dtype(np.int8), TensorProto.INT8),
    "INT16": (np.dtype(np.int16), TensorProto.INT16),
    "INT32": (np.dtype(np.int32), TensorProto.INT32),
    "INT64": (np.dtype(np.int64), TensorProto.INT64),
    "FP16": (np.dtype(np.float16), TensorProto.FLOAT16),
    "FP32": (np.dtype(np.float32), TensorProto.FLOAT),
    "FP64": (np.dtype(np.float64), TensorProto.DOUBLE),
    "BYTES": (np.dtype(object), TensorProto.STRING),
}

IDENTITY_COLS = 3
# Distinctive tensor names, so that tests can check that error messages name them.
IDENTITY_IN = "value_in"
IDENTITY_OUT = "value_out"
SAMPLE = "credit-risk"
SAMPLE_FEATURES = 20
TWO_INPUT = "add-two"
FIXED_BATCH = "fixed-batch"
MULTI_OUTPUT = "multi-out"
SLOW = "slow"
OFFSET = "offset"

_OPSET = 17
_IR_VERSION = 8


def identity_name(datatype: str) -> str:
    """Model name of the identity model for an OIP datatype, e.g. `identity-fp32`."""
    return f"identity-{datatype.lower()}"


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    name: str,
    initializers: list[onnx.TensorProto] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def identity_model(datatype: str) -> onnx.ModelProto:
    """value_in [-1, 3] -> value_out [-1, 3] of the same datatype."""
    elem = DATATYPES[datatype][1]
    return _model(
        [helper.make_node("Identity", [IDENTITY_IN], [IDENTITY_OUT])],
        [helper.make_tensor_value_info(IDENTITY_IN, elem, [None, IDENTITY_COLS])],
        [helper.make_tensor_value_info(IDENTITY_OUT, elem, [None, IDENTITY_COLS])],
        identity_name(datatype),
    )


def two_input_model() -> onnx.ModelProto:
    """left FP32 [-1, 4] + right FP32 [-1, 4] -> sum FP32 [-1, 4]."""
    return _model(
        [helper.make_node("Add", ["left", "right"], ["sum"])],
        [
            helper.make_tensor_value_info("left", TensorProto.FLOAT, [None, 4]),
            helper.make_tensor_value_info("right", TensorProto.FLOAT, [None, 4]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 4])],
        TWO_INPUT,
    )


def fixed_batch_model() -> onnx.ModelProto:
    """grid FP32 [2, 3] -> y = -grid; no variable dimension, so never batched."""
    return _model(
        [helper.make_node("Neg", ["grid"], ["y"])],
        [helper.make_tensor_value_info("grid", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        FIXED_BATCH,
    )


def multi_output_model() -> onnx.ModelProto:
    """x FP32 [-1, 3] -> double (2x), negated (-x) [-1, 3] and total FP32 [-1] (row sums)."""
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    return _model(
        [
            helper.make_node("Mul", ["x", "two"], ["double"]),
            helper.make_node("Neg", ["x"], ["negated"]),
            helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [
            helper.make_tensor_value_info("double", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("negated", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, [None]),
        ],
        MULTI_OUTPUT,
        [two, axes],
    )


def offset_model(offset: float) -> onnx.ModelProto:
    """x FP32 [-1, 1] -> y = x + offset; versions of one model tell themselves apart by it."""
    k = numpy_helper.from_array(np.array(offset, dtype=np.float32), "k")
    return _model(
        [helper.make_node("Add", ["x", "k"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        OFFSET,
        [k],
    )


def slow_model(iterations: int = 1500, size: int = 256) -> onnx.ModelProto:
    """x FP32 [-1, 4] -> y = x, after `iterations` dense [size x size] MatMuls.

    The loop state is seeded from the input so ONNX Runtime cannot fold it away; each run costs
    `iterations * 2 * size**3` flops, which the drain and deadline tests rely on.
    """
    rng = np.random.default_rng(0)
    weights = rng.normal(scale=1.0 / size, size=(size, size)).astype(np.float32)
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["state_in", "w"], ["product"]),
            helper.make_node("Tanh", ["product"], ["state_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "slow_body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [size, size]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [size, size]),
        ],
    )
    constants = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(np.array(iterations, dtype=np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "go"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    return _model(
        [
            helper.make_node("ReduceSum", ["x"], ["seed"], keepdims=0),
            helper.make_node("Mul", ["w", "seed"], ["state0"]),
            helper.make_node("Loop", ["trips", "go", "state0"], ["final"], body=body),
            helper.make_node("ReduceSum", ["final"], ["final_sum"], keepdims=0),
            helper.make_node("Mul", ["final_sum", "zero"], ["nothing"]),
            helper.make_node("Add", ["x", "nothing"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        SLOW,
        constants,
    )


def write_model(
    models_dir: Path,
    name: str,
    model: onnx.ModelProto,
    version: int = 1,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write `<models_dir>/<name>/<version>/model.onnx` (+ modelfleet.json); return the folder."""
    version_dir = models_dir / name / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.onnx").write_bytes(model.SerializeToString())
    if config is not None:
        (version_dir / "modelfleet.json").write_text(json.dumps(config))
    return version_dir


def write_zoo(models_dir: Path, slow_iterations: int = 1500) -> Path:
    """Write every test model (identities for all datatypes, shapes, the sample) into a repo."""
    for datatype in DATATYPES:
        write_model(models_dir, identity_name(datatype), identity_model(datatype))
    write_model(models_dir, TWO_INPUT, two_input_model())
    write_model(models_dir, FIXED_BATCH, fixed_batch_model())
    write_model(
        models_dir, MULTI_OUTPUT, multi_output_model(), config={"metadata": {"kind": "multi"}}
    )
    write_model(models_dir, SLOW, slow_model(slow_iterations))
    write_model(models_dir, OFFSET, offset_model(1.0), version=1)
    write_sample_model(models_dir, name=SAMPLE, n_features=SAMPLE_FEATURES)
    return models_dir


def sample_array(datatype: str, rows: int = 2, cols: int = IDENTITY_COLS, seed: int = 0) -> Any:
    """Deterministic values of a datatype including its extremes (exact in JSON and binary)."""
    dtype = DATATYPES[datatype][0]
    rng = np.random.default_rng(seed)
    n = rows * cols
    if datatype == "BOOL":
        flat: np.ndarray[Any, Any] = rng.integers(0, 2, size=n).astype(bool)
    elif datatype == "BYTES":
        words = ["", "a", "héllo", "zebra 🦓", "x" * 40, "tab\tnew\nline", '"quoted"']
        flat = np.array([words[i % len(words)] for i in range(seed, seed + n)], dtype=object)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        # JSON numbers above 2**53 are exact only as integers; keep both extremes in the mix.
        extremes = np.array([info.min, info.max, 0, 1], dtype=dtype)
        flat = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
        flat[: min(n, 4)] = extremes[: min(n, 4)]
    else:
        flat = (rng.integers(-1000, 1000, size=n) / 8).astype(dtype)
    return flat.reshape(rows, cols)
