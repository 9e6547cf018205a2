"""Ready ONNX models (a .onnx path, bytes or an onnx.ModelProto): checked, never converted."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from modelfleet.convert import _graph
from modelfleet.convert._conversion import check_graph, converted_model
from modelfleet.convert._errors import ConversionError, InvalidSampleInput, UnsupportedModelError
from modelfleet.convert._result import ConvertedModel
from modelfleet.convert._sample import check_feature_names

FRAMEWORK = "onnx"


def load(source: str | os.PathLike[str] | bytes) -> onnx.ModelProto:
    """Parse a .onnx file or serialised bytes; external data must lie beside the file."""
    if isinstance(source, bytes):
        try:
            return onnx.load_from_string(source)
        except Exception as exc:  # protobuf's DecodeError and friends
            raise ConversionError(f"the bytes given are not an ONNX model: {exc}") from exc
    path = Path(source)
    if path.suffix.lower() != ".onnx":
        # Pickled models (.pkl, .joblib, .pt) are never loaded: they run code when read.
        raise UnsupportedModelError(
            f"{path.name}: only .onnx files are read from a path; load other models in your "
            "own code and pass the model object"
        )
    if not path.is_file():
        raise ConversionError(f"ONNX file not found: {path}")
    try:
        # onnx refuses external-data locations that leave the model's folder.
        return onnx.load(str(path))
    except Exception as exc:
        raise ConversionError(f"{path.name} is not a readable ONNX model: {exc}") from exc


def check(
    proto: onnx.ModelProto, *, name: str | None, feature_names: Sequence[str] | None
) -> ConvertedModel:
    """Validate with onnx.checker and record feature names; the graph is otherwise untouched."""
    check_graph(proto, "the ONNX model is invalid")
    if feature_names is not None:
        names = check_feature_names(feature_names, None, _feature_width(proto, feature_names))
        _graph.set_feature_names(proto, names or ())
    if name is not None:
        proto.graph.name = name
    return converted_model(
        proto,
        name=name or proto.graph.name or "model",
        framework=FRAMEWORK,
        framework_version=onnx.__version__,
        converter=f"{proto.producer_name or 'unknown'} {proto.producer_version}".strip(),
        reference=None,
    )


def _feature_width(proto: onnx.ModelProto, names: Sequence[str]) -> int:
    """The feature count of the one 2-D input (len(names) when that axis is symbolic)."""
    initializers = {t.name for t in proto.graph.initializer}
    inputs = [v for v in proto.graph.input if v.name not in initializers]
    dims: list[Any] = list(inputs[0].type.tensor_type.shape.dim) if len(inputs) == 1 else []
    if len(dims) != 2:
        raise InvalidSampleInput(
            "feature_names apply to a model with one 2-D input [rows, features]; this one "
            f"has inputs {[v.name for v in inputs]}"
        )
    return int(dims[1].dim_value) if dims[1].HasField("dim_value") else len(names)
