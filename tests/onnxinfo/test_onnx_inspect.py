"""inspect_model: signatures of real models and every refusal path, with precise errors."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnxbuild import add_weights_model, save_external, set_location

from modelfleet.agent.node.sample import write_sample_model
from modelfleet.onnxinfo import ModelRefused, TensorSpec, inspect_model


def test_skl2onnx_pipeline_signature(tmp_path: Path) -> None:
    folder = write_sample_model(tmp_path, n_features=7)
    sig = inspect_model(folder / "model.onnx")
    assert sig.inputs == (TensorSpec("input", "FP32", (-1, 7)),)
    assert [(o.name, o.datatype) for o in sig.outputs] == [
        ("label", "INT64"),
        ("probabilities", "FP32"),
    ]
    assert sig.outputs[1].shape == (-1, 2)
    assert sig.opset == 17
    assert sig.producer_name == "skl2onnx"
    assert sig.ir_version > 0
    assert sig.external_data == ()


def test_zipmap_output_is_described_not_a_tensor(iris_zipmap_model: bytes) -> None:
    sig = inspect_model(iris_zipmap_model)
    assert sig.inputs[0].datatype == "FP32"
    assert sig.inputs[0].shape == (-1, 4)
    probabilities = sig.outputs[1]
    assert not probabilities.is_tensor
    assert probabilities.datatype == "SEQUENCE(MAP(INT64,FP32))"
    assert probabilities.shape is None
    assert sig.opset_imports["ai.onnx.ml"] >= 1


def test_helper_model_datatypes_shapes_and_metadata() -> None:
    inputs = [
        helper.make_tensor_value_info("text", TensorProto.STRING, ["n"]),
        helper.make_tensor_value_info("flag", TensorProto.BOOL, [None, 3]),
        helper.make_tensor_value_info("half", TensorProto.FLOAT16, [2, "k"]),
        helper.make_tensor_value_info("wide", TensorProto.DOUBLE, []),
    ]
    outputs = [helper.make_tensor_value_info("text_out", TensorProto.STRING, ["n"])]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["text_out"])], "g", inputs, outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    helper.set_model_props(model, {"team": "fraud", "stage": "dev"})
    sig = inspect_model(model.SerializeToString())
    assert [(i.name, i.datatype, i.shape) for i in sig.inputs] == [
        ("text", "BYTES", (-1,)),
        ("flag", "BOOL", (-1, 3)),
        ("half", "FP16", (2, -1)),
        ("wide", "FP64", ()),
    ]
    assert sig.metadata == {"team": "fraud", "stage": "dev"}
    assert sig.opset == 18


def test_external_data_inside_folder_is_accepted_and_loads(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m", location="data/weights.bin")
    sig = inspect_model(path)
    assert sig.external_data == ("data/weights.bin",)
    assert sig.metadata == {"owner": "risk-team"}
    # The accepted folder is really loadable by the runtime the agent uses.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ones((1, 4096), dtype=np.float32)
    assert session.run(None, {"X": x})[0][0, 5] == 6.0


def test_symlink_pointing_inside_folder_is_accepted(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m", location="real.bin")
    os.symlink("real.bin", tmp_path / "m" / "alias.bin")
    set_location(path, "alias.bin")
    assert inspect_model(path).external_data == ("alias.bin",)


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("../outside.bin", "contains '..'"),
        ("sub/../../outside.bin", "contains '..'"),
        ("..\\outside.bin", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("\\\\server\\share\\w.bin", "is absolute"),
        ("C:\\weights.bin", "is absolute"),
        ("", "is empty"),
    ],
)
def test_bad_external_locations_refused(tmp_path: Path, location: str, words: str) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    (tmp_path / "outside.bin").write_bytes((tmp_path / "m" / "weights.bin").read_bytes())
    set_location(path, location)
    with pytest.raises(ModelRefused, match=words) as info:
        inspect_model(path)
    assert info.value.field == "tensor 'W' external_data.location"
    assert "inside the model folder" in info.value.expected


def test_symlink_escaping_folder_refused(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    secret = tmp_path / "secret.bin"
    os.replace(tmp_path / "m" / "weights.bin", secret)
    os.symlink(secret, tmp_path / "m" / "weights.bin")
    with pytest.raises(ModelRefused, match="resolves outside the model folder"):
        inspect_model(path)


def test_symlinked_directory_escaping_folder_refused(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m", location="data/weights.bin")
    os.replace(tmp_path / "m" / "data", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "m" / "data")
    with pytest.raises(ModelRefused, match="resolves outside the model folder"):
        inspect_model(path)


def test_hard_link_to_outside_file_refused(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    outside = tmp_path / "outside.bin"
    os.link(tmp_path / "m" / "weights.bin", outside)
    with pytest.raises(ModelRefused, match="hard link shared with a file outside"):
        inspect_model(path)
    # Once the outside link is gone, the same file is accepted.
    outside.unlink()
    assert inspect_model(path).external_data == ("weights.bin",)


def test_hard_links_all_inside_folder_accepted(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    os.link(tmp_path / "m" / "weights.bin", tmp_path / "m" / "copy.bin")
    assert inspect_model(path).external_data == ("weights.bin",)


def test_missing_external_file_refused(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    (tmp_path / "m" / "weights.bin").unlink()
    with pytest.raises(ModelRefused, match="does not exist in the model folder"):
        inspect_model(path)


def test_external_range_beyond_file_refused(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    with open(tmp_path / "m" / "weights.bin", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(ModelRefused, match=r"lies outside 'weights\.bin'") as info:
        inspect_model(path)
    assert info.value.field == "tensor 'W' external_data.length"


def test_external_data_from_bytes_without_folder_refused(tmp_path: Path) -> None:
    path = save_external(add_weights_model(), tmp_path / "m")
    with pytest.raises(ModelRefused) as info:
        inspect_model(path.read_bytes())
    assert info.value.field == "external_data"
    assert inspect_model(path.read_bytes(), folder=tmp_path / "m").external_data == ("weights.bin",)


def test_external_data_is_not_read(tmp_path: Path) -> None:
    """Inspection only locates external files: a FIFO would block a reader forever."""
    path = save_external(add_weights_model(), tmp_path / "m")
    (tmp_path / "m" / "weights.bin").unlink()
    os.mkfifo(tmp_path / "m" / "weights.bin")
    with pytest.raises(ModelRefused, match="is not a regular file"):
        inspect_model(path)


def _torch_style_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": [1.0, 2.0]}, protocol=2))
        archive.writestr("archive/data/0", b"\x00" * 16)
        archive.writestr("archive/version", b"3\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"", "is empty"),
        (pickle.dumps({"coef": [1, 2, 3]}, protocol=2), r"pickle \(protocol 2\)"),
        (pickle.dumps({"coef": [1, 2, 3]}, protocol=4), r"pickle \(protocol 4\)"),
        (pickle.dumps({"coef": [1, 2, 3]}, protocol=5), r"pickle \(protocol 5\)"),
        (pickle.dumps({"coef": [1, 2, 3]}, protocol=0), r"pickle \(protocol 0/1\)"),
        (pickle.dumps([1.5, "x"], protocol=1), r"pickle \(protocol 0/1\)"),
        (_torch_style_zip(), "PyTorch-style zip checkpoint containing a pickle"),
        (b"\x89HDF\r\n\x1a\n" + bytes(64), "HDF5"),
        (b"\x93NUMPY\x01\x00" + bytes(64), "NumPy"),
        (b"hello, this is not a model", "does not start with a ModelProto field"),
    ],
)
def test_non_onnx_files_refused(tmp_path: Path, payload: bytes, words: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(payload)
    for source in (path, payload):
        with pytest.raises(ModelRefused, match=words) as info:
            inspect_model(source)
        assert info.value.field == "file"
        assert info.value.expected == "an ONNX ModelProto (protobuf)"


def test_pickled_sklearn_estimator_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(50, 3))
    estimator = LogisticRegression().fit(x, x[:, 0] > 0)
    with pytest.raises(ModelRefused, match="pickles are never loaded"):
        inspect_model(pickle.dumps(estimator))


def test_truncated_model_refused(tmp_path: Path) -> None:
    data = write_sample_model(tmp_path).joinpath("model.onnx").read_bytes()
    with pytest.raises(ModelRefused) as info:
        inspect_model(data[: len(data) // 2])
    assert info.value.field in {"file", "graph", "opset_import"}


def test_checker_failure_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["X"], ["Y"])],  # Add needs two inputs
        "broken",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelRefused, match="ONNX checker refused") as info:
        inspect_model(model.SerializeToString())
    assert info.value.field == "graph"


def test_model_without_graph_or_opset_refused() -> None:
    with pytest.raises(ModelRefused) as info:
        inspect_model(onnx.ModelProto(ir_version=8).SerializeToString())
    assert info.value.field == "graph"


def test_missing_and_special_model_paths_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelRefused, match="does not exist"):
        inspect_model(tmp_path / "absent.onnx")
    with pytest.raises(ModelRefused, match="not a regular file"):
        inspect_model(tmp_path)
