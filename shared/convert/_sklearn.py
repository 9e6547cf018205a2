"""scikit-learn estimators and pipelines -> ONNX with skl2onnx (plain tensors, no ZipMap)."""

from __future__ import annotations

import logging
from typing import Any

from modelfleet.convert import _trees
from modelfleet.convert._conversion import (
    REGRESSION_OUTPUTS,
    Conversion,
    check_graph,
    classifier_outputs,
    estimator_reference,
)
from modelfleet.convert._errors import (
    ConversionError,
    MissingDependencyError,
    UnsupportedModelError,
)
from modelfleet.convert._sample import FLOAT32, FLOAT64, TabularSample

log = logging.getLogger(__name__)

ACCEPTED_DTYPES = (FLOAT32, FLOAT64)


def n_features(model: Any) -> int | None:
    value = getattr(model, "n_features_in_", None)
    return int(value) if value is not None else None


def fitted_feature_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return tuple(str(n) for n in names) if names is not None else None


def convert(model: Any, sample: TabularSample, target_opset: int | None) -> Conversion:
    try:
        import skl2onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn models", "skl2onnx", "ml") from exc
    import sklearn
    from sklearn.base import is_classifier, is_regressor

    outputs: tuple[str, ...]
    if is_classifier(model):
        outputs = classifier_outputs(has_probabilities=hasattr(model, "predict_proba"))
    elif is_regressor(model):
        outputs = REGRESSION_OUTPUTS
    else:
        raise UnsupportedModelError(
            f"{type(model).__name__} is neither a classifier nor a regressor; scikit-learn "
            "models convert when they (or a pipeline's last step) predict labels or values"
        )
    tree_types = _trees.register_with_skl2onnx()
    if tree_types and any(isinstance(part, tree_types) for part in _parts(model)):
        # onnxmltools' tree converters emit ai.onnx.ml 3 at most; skl2onnx must know.
        latest = skl2onnx.get_latest_tested_opset_version()
        target_opset = {"": target_opset or latest, "ai.onnx.ml": 3}  # type: ignore[assignment]
    options = _no_zipmap(model) if outputs != REGRESSION_OUTPUTS else None
    tensor_types = [FloatTensorType]
    if sample.array.dtype == FLOAT64:
        # Several skl2onnx converters lack double support; float32 is their fallback.
        tensor_types.insert(0, DoubleTensorType)
    failure: ConversionError | None = None
    for tensor_type in tensor_types:
        try:
            # finish() checks the final graph; an early check only matters before a retry.
            check = tensor_type is not tensor_types[-1]
            proto = _convert_once(
                skl2onnx, model, tensor_type, sample, options, target_opset, check
            )
            break
        except UnsupportedModelError:
            raise
        except ConversionError as exc:
            log.info("%s; trying the next input type", exc)
            failure = exc
    else:
        assert failure is not None
        raise failure
    return Conversion(
        proto=proto,
        framework="scikit-learn",
        framework_version=sklearn.__version__,
        converter=f"skl2onnx {skl2onnx.__version__}",
        outputs=outputs,
        reference=estimator_reference(model, outputs),
    )


def _convert_once(
    skl2onnx: Any,
    model: Any,
    tensor_type: Any,
    sample: TabularSample,
    options: dict[int, dict[str, bool]] | None,
    target_opset: int | dict[str, int] | None,
    check: bool,
) -> Any:
    kind = type(model).__name__
    try:
        proto = skl2onnx.convert_sklearn(
            model,
            initial_types=[("input", tensor_type([None, sample.n_features]))],
            options=options,
            target_opset=target_opset,
        )
    except Exception as exc:  # skl2onnx raises bare RuntimeError/ValueError/TypeError alike
        if "Unable to find a shape calculator" in str(exc):
            raise UnsupportedModelError(
                f"skl2onnx has no converter for a part of {kind}: {exc}"
            ) from exc
        raise ConversionError(f"skl2onnx failed on {kind}: {exc}") from exc
    if check:
        # Some converters emit a graph for double input that does not type-check.
        check_graph(proto, f"skl2onnx produced invalid ONNX for {kind}")
    return proto


def _parts(model: Any) -> list[Any]:
    """The model and every estimator nested in it (pipeline steps, ensemble members)."""
    return [model, *model.get_params(deep=True).values()]


def _no_zipmap(model: Any) -> dict[int, dict[str, bool]] | None:
    """Turn ZipMap off on the final classifier, if its converter has that option at all."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    final = model
    while hasattr(final, "steps"):
        final = final.steps[-1][1]
    alias = sklearn_operator_name_map.get(type(final))
    if alias is None:
        return None
    allowed = get_converter(alias).get_allowed_options() or {}
    return {id(final): {"zipmap": False}} if "zipmap" in allowed else None
