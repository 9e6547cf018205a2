"""Ready ONNX models (file path, bytes, ModelProto) are validated, run, and never unpickled."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression

from modelfleet.convert import (
    FEATURE_NAMES_KEY,
    ConversionError,
    InvalidSampleInput,
    UnsupportedModelError,
    to_onnx,
)


def add_model() -> onnx.ModelProto:
    """A real two-input graph: sum = a + b."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3])
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"])], "add", [a, b], [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_converted_file_round_trips_with_feature_names(tabular, tmp_path):
    model = LogisticRegression().fit(tabular.x, tabular.binary)
    path = tmp_path / "risk.onnx"
    path.write_bytes(to_onnx(model, tabular.sample).onnx_bytes)
    names = [f"n{i}" for i in range(tabular.x.shape[1])]

    checked = to_onnx(path, tabular.sample, feature_names=names)

    assert checked.framework == "onnx"
    assert checked.name == "LogisticRegression"  # the graph name the conversion wrote
    assert checked.converter.startswith("skl2onnx")
    assert checked.input_names == ("input",)
    assert checked.output_names == ("label", "probabilities")
    assert checked.feature_names == tuple(names)
    props = {p.key: p.value for p in onnx.load_from_string(checked.onnx_bytes).metadata_props}
    assert json.loads(props[FEATURE_NAMES_KEY]) == names
    # Nothing native to compare with: verify only runs the graph.
    assert checked.verify(tabular.sample) == ()
    with pytest.raises(InvalidSampleInput, match="dimension 1 must be 6"):
        checked.verify(tabular.x[:, :5])


def test_model_proto_and_bytes_with_several_inputs():
    proto = add_model()

    checked = to_onnx(proto, {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 3), np.float32)})

    assert checked.input_names == ("a", "b")
    assert checked.opset == 17
    assert to_onnx(proto.SerializeToString(), None).output_names == ("sum",)
    with pytest.raises(InvalidSampleInput, match="mapping of input name"):
        checked.verify(np.ones((2, 3), np.float32))
    with pytest.raises(InvalidSampleInput, match="feature_names apply to a model with one"):
        to_onnx(proto, None, feature_names=["x", "y", "z"])


def test_invalid_onnx_is_refused(tmp_path):
    broken = add_model()
    broken.graph.node[0].op_type = "NoSuchOp"
    with pytest.raises(ConversionError, match="invalid"):
        to_onnx(broken, None)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model at all")
    with pytest.raises(ConversionError, match=r"garbage\.onnx"):
        to_onnx(garbage, None)
    with pytest.raises(ConversionError, match="not found"):
        to_onnx(tmp_path / "missing.onnx", None)


class _Tripwire:
    """Unpickling this creates a file: proof that something loaded the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_files_are_never_loaded(tmp_path):
    marker = tmp_path / "unpickled"
    for suffix in (".pkl", ".joblib", ".pt"):
        path = tmp_path / f"model{suffix}"
        path.write_bytes(pickle.dumps(_Tripwire(marker)))
        with pytest.raises(UnsupportedModelError, match=r"only \.onnx files"):
            to_onnx(path, None)
    assert not marker.exists()


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    proto = add_model()
    weights = helper.make_tensor("w", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    weights.data_location = TensorProto.EXTERNAL
    del weights.float_data[:]
    for key, value in {"location": "../outside.bin", "offset": "0", "length": "12"}.items():
        weights.external_data.add(key=key, value=value)
    proto.graph.initializer.append(weights)
    (tmp_path / "outside.bin").write_bytes(np.arange(3, dtype=np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(proto.SerializeToString())

    with pytest.raises(ConversionError, match="points outside the directory"):
        to_onnx(folder / "model.onnx", None)
