"""Real ONNX models built with onnx.helper, saved with and without external data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def add_weights_model(n: int = 4096) -> onnx.ModelProto:
    """Y = X + W with a float initializer large enough to be stored as external data."""
    weights = numpy_helper.from_array(np.arange(n, dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])],
        "add_weights",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", n])],
        [weights],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests"
    )
    model.ir_version = 8
    helper.set_model_props(model, {"owner": "risk-team"})
    return model


def save_external(model: onnx.ModelProto, folder: Path, location: str = "weights.bin") -> Path:
    """Save with every initializer in the external file `location`; returns the model path."""
    (folder / location).parent.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    return path


def set_location(path: Path, location: str) -> None:
    """Rewrite the external-data location of every external tensor, as an attacker would."""
    model = onnx.load_model(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(model.SerializeToString())
