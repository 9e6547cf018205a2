"""Small ONNX graphs the security tests hand to inspect_model."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def identity(elem: int = TensorProto.FLOAT, op: str = "Identity") -> onnx.ModelProto:
    """x [1] -> y [1] through one node (`op` may be any name: the checker judges it)."""
    return _model(
        helper.make_graph(
            [helper.make_node(op, ["x"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", elem, [1])],
            [helper.make_tensor_value_info("y", elem, [1])],
        )
    )


def external(location: str) -> onnx.ModelProto:
    """x [4] + w [4], where w's data is said to live in the file `location`."""
    weight = numpy_helper.from_array(np.zeros(4, dtype=np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    return _model(
        helper.make_graph(
            [helper.make_node("Add", ["x", "w"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
            initializer=[weight],
        )
    )
