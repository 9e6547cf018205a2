"""A large ONNX model (tens of MB of weights) with the sample model's input and a cheap graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write_big_model(path: Path, megabytes: int = 50, seed: int = 0) -> Path:
    """input [-1, 20] FP32 -> probabilities [-1, 2]; a constant slice of a big initializer is
    added, so the weights must load but each run stays cheap."""
    rng = np.random.default_rng(seed)
    big = rng.standard_normal(megabytes * (1 << 20) // 4).astype(np.float32)
    weights = rng.standard_normal((20, 2)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["input", "weights"], ["scores"]),
        helper.make_node("Slice", ["big", "starts", "ends"], ["bias"]),
        helper.make_node("Add", ["scores", "bias"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "big",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 20])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        initializer=[
            numpy_helper.from_array(big, "big"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "starts"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "ends"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
