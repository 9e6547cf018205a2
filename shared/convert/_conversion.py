"""What every framework converter hands back, and how it becomes a `ConvertedModel`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray

from modelfleet.convert import _graph
from modelfleet.convert._errors import ConversionError
from modelfleet.convert._result import ConvertedModel, Expected, Reference

LABEL = "label"
REGRESSION_OUTPUTS = ("prediction",)


@dataclass
class Conversion:
    """A freshly converted graph; `outputs` are the names its outputs get, in order."""

    proto: onnx.ModelProto
    framework: str
    framework_version: str
    converter: str
    outputs: tuple[str, ...]
    reference: Reference | None


def classifier_outputs(*, has_probabilities: bool) -> tuple[str, str]:
    """Classifier outputs: the label and either class probabilities or decision scores."""
    return (LABEL, "probabilities" if has_probabilities else "scores")


def estimator_reference(model: Any, outputs: Sequence[str]) -> Reference:
    """Native predictions of a scikit-learn-API model (predict / predict_proba).

    Decision scores of classifiers without predict_proba are not compared: their layout
    differs between scikit-learn and the converters, and the labels derive from them.
    """

    def predict(original: object, _array: NDArray[Any]) -> list[Expected]:
        expected = [Expected(outputs[0], np.asarray(model.predict(original)), outputs[0] == LABEL)]
        if "probabilities" in outputs:
            expected.append(Expected("probabilities", np.asarray(model.predict_proba(original))))
        return expected

    return predict


def finish(
    conversion: Conversion,
    *,
    name: str,
    feature_names: Sequence[str] | None,
    batch_axis: bool = True,
) -> ConvertedModel:
    """Fix names and the batch axis, write metadata, check the graph, serialise it."""
    proto = conversion.proto
    inputs = [v.name for v in proto.graph.input]
    try:
        _graph.rename_values(proto, {inputs[0]: _graph.INPUT_NAME})
        _graph.name_outputs(proto, conversion.outputs)
    except ValueError as exc:
        raise ConversionError(
            f"{conversion.converter} produced an unexpected graph: {exc}"
        ) from exc
    if batch_axis:
        _graph.make_batch_dynamic(proto)
    proto.graph.name = name
    if feature_names is not None:
        _graph.set_feature_names(proto, feature_names)
    _graph.set_metadata(proto, "modelfleet.framework", conversion.framework)
    _graph.set_metadata(proto, "modelfleet.framework_version", conversion.framework_version)
    check_graph(proto, f"{conversion.converter} produced invalid ONNX")
    return converted_model(
        proto,
        name=name,
        framework=conversion.framework,
        framework_version=conversion.framework_version,
        converter=conversion.converter,
        reference=conversion.reference,
    )


def check_graph(proto: onnx.ModelProto, failure: str) -> None:
    """onnx.checker with shape and type inference; ConversionError(`failure`: why) if bad."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ConversionError(f"{failure}: {exc}") from exc


def converted_model(
    proto: onnx.ModelProto,
    *,
    name: str,
    framework: str,
    framework_version: str,
    converter: str,
    reference: Reference | None,
) -> ConvertedModel:
    """Read the signature off a checked graph and wrap it with its serialised bytes."""
    initializers = {t.name for t in proto.graph.initializer}
    input_names = tuple(v.name for v in proto.graph.input if v.name not in initializers)
    dtype, shape = _graph.input_signature(proto, input_names[0])
    opsets = _graph.opsets(proto)
    return ConvertedModel(
        onnx_bytes=proto.SerializeToString(),
        name=name,
        framework=framework,
        framework_version=framework_version,
        converter=converter,
        input_names=input_names,
        input_dtype=dtype,
        input_shape=shape,
        output_names=tuple(v.name for v in proto.graph.output),
        feature_names=_graph.read_feature_names(proto),
        opset=opsets.get(""),
        opsets=opsets,
        _reference=reference,
    )
