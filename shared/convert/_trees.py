"""XGBoost and LightGBM models (scikit-learn wrappers and raw Boosters) -> ONNX with onnxmltools."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelfleet.convert._conversion import (
    LABEL,
    REGRESSION_OUTPUTS,
    Conversion,
    classifier_outputs,
    estimator_reference,
)
from modelfleet.convert._errors import (
    ConversionError,
    MissingDependencyError,
    UnsupportedModelError,
)
from modelfleet.convert._result import Expected, Reference
from modelfleet.convert._sample import FLOAT32, TabularSample

# The onnxmltools tree converters take float32 input only. XGBoost itself splits on
# float32 values, so this loses nothing there; LightGBM splits on doubles, and the
# verification step catches a row that lands on the other side of a threshold.
ACCEPTED_DTYPES = (FLOAT32,)
_XGB_DEFAULT_NAME = re.compile(r"f\d+")


def xgboost_n_features(model: Any) -> int:
    booster = model if _is_booster(model) else model.get_booster()
    return int(booster.num_features())


def xgboost_feature_names(model: Any) -> tuple[str, ...] | None:
    booster = model if _is_booster(model) else model.get_booster()
    return tuple(booster.feature_names) if booster.feature_names else None


def lightgbm_n_features(model: Any) -> int:
    booster = model if _is_booster(model) else model.booster_
    return int(booster.num_feature())


def lightgbm_feature_names(model: Any) -> tuple[str, ...] | None:
    booster = model if _is_booster(model) else model.booster_
    names = tuple(booster.feature_name())
    # LightGBM invents Column_0.. when it was trained without names; those say nothing.
    return None if all(n == f"Column_{i}" for i, n in enumerate(names)) else names


def register_with_skl2onnx() -> tuple[type, ...]:
    """Teach skl2onnx the XGBoost/LightGBM estimators, for pipelines that end in one.

    Only frameworks already imported are registered (a pipeline step of an absent one
    cannot exist); registering again replaces the entry, so repeated calls are harmless.
    Returns the types registered.
    """
    xgboost, lightgbm = sys.modules.get("xgboost"), sys.modules.get("lightgbm")
    if xgboost is None and lightgbm is None:
        return ()
    try:
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )
    except ImportError:
        return ()  # the caller reports skl2onnx missing
    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    registrations = []
    if xgboost is not None:
        xgb_convert = _optional("onnxmltools.convert.xgboost.operator_converters.XGBoost")
        registrations += [
            (xgboost.XGBClassifier, "XGBoostXGBClassifier", True, xgb_convert, "convert_xgboost"),
            (xgboost.XGBRegressor, "XGBoostXGBRegressor", False, xgb_convert, "convert_xgboost"),
        ]
    if lightgbm is not None:
        lgb_convert = _optional("onnxmltools.convert.lightgbm.operator_converters.LightGbm")
        registrations += [
            (
                lightgbm.LGBMClassifier,
                "LightGbmLGBMClassifier",
                True,
                lgb_convert,
                "convert_lightgbm",
            ),
            (
                lightgbm.LGBMRegressor,
                "LightGbmLGBMRegressor",
                False,
                lgb_convert,
                "convert_lightgbm",
            ),
        ]
    registered: list[type] = []
    for kind, alias, is_classifier, module, function in registrations:
        if module is None:
            continue  # onnxmltools absent: skl2onnx will say it cannot convert the step
        registered.append(kind)
        update_registered_converter(
            kind,
            alias,
            calculate_linear_classifier_output_shapes
            if is_classifier
            else calculate_linear_regressor_output_shapes,
            getattr(module, function),
            options=classifier_options if is_classifier else None,
        )
    return tuple(registered)


def _optional(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None


def convert_xgboost(model: Any, sample: TabularSample, target_opset: int | None) -> Conversion:
    import xgboost

    if isinstance(model, xgboost.XGBRanker):
        raise UnsupportedModelError(
            "XGBRanker is not supported; XGBoost models convert as "
            "XGBClassifier, XGBRegressor or Booster"
        )
    onnxmltools, tensor_type = _onnxmltools("XGBoost models")
    source = model
    booster = model if _is_booster(model) else model.get_booster()
    if booster.feature_names and not all(map(_XGB_DEFAULT_NAME.fullmatch, booster.feature_names)):
        # onnxmltools reads split features as f<index>; a copy without names dumps them so.
        source = booster.copy()
        source.feature_names = None
    proto = _run(
        lambda: onnxmltools.convert_xgboost(
            source,
            initial_types=[("input", tensor_type([None, sample.n_features]))],
            target_opset=target_opset,
        ),
        "onnxmltools (XGBoost)",
        model,
    )
    outputs = _outputs(model, proto, xgboost.XGBClassifier, xgboost.XGBRegressor)
    if _is_booster(model):
        reference = _booster_reference(lambda x: model.predict(xgboost.DMatrix(x)), outputs)
    else:
        reference = estimator_reference(model, outputs)
    return Conversion(
        proto,
        "xgboost",
        xgboost.__version__,
        f"onnxmltools {onnxmltools.__version__}",
        outputs,
        reference,
    )


def convert_lightgbm(model: Any, sample: TabularSample, target_opset: int | None) -> Conversion:
    import lightgbm

    if isinstance(model, lightgbm.LGBMRanker):
        raise UnsupportedModelError(
            "LGBMRanker is not supported; LightGBM models convert as "
            "LGBMClassifier, LGBMRegressor or Booster"
        )
    onnxmltools, tensor_type = _onnxmltools("LightGBM models")
    proto = _run(
        lambda: onnxmltools.convert_lightgbm(
            model,
            initial_types=[("input", tensor_type([None, sample.n_features]))],
            target_opset=target_opset,
            zipmap=False,
        ),
        "onnxmltools (LightGBM)",
        model,
    )
    outputs = _outputs(model, proto, lightgbm.LGBMClassifier, lightgbm.LGBMRegressor)
    if _is_booster(model):
        reference = _booster_reference(model.predict, outputs)
    else:
        reference = estimator_reference(model, outputs)
    return Conversion(
        proto,
        "lightgbm",
        lightgbm.__version__,
        f"onnxmltools {onnxmltools.__version__}",
        outputs,
        reference,
    )


def _onnxmltools(what: str) -> tuple[Any, Any]:
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as exc:
        raise MissingDependencyError(what, "onnxmltools", "ml") from exc
    return onnxmltools, FloatTensorType


def _run(call: Callable[[], Any], converter: str, model: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # the converters raise RuntimeError, ValueError, KeyError...
        raise ConversionError(f"{converter} failed on {type(model).__name__}: {exc}") from exc


def _is_booster(model: Any) -> bool:
    return type(model).__name__ == "Booster"


def _outputs(model: Any, proto: Any, classifier: type, regressor: type) -> tuple[str, ...]:
    if isinstance(model, classifier):
        return classifier_outputs(has_probabilities=True)
    if isinstance(model, regressor):
        return REGRESSION_OUTPUTS
    # A Booster: the converter chose from its objective; two outputs mean a classifier.
    return (
        classifier_outputs(has_probabilities=True)
        if len(proto.graph.output) == 2
        else REGRESSION_OUTPUTS
    )


def _booster_reference(predict: Any, outputs: tuple[str, ...]) -> Reference:
    def reference(original: object, _array: NDArray[Any]) -> list[Expected]:
        values = np.asarray(predict(original))
        if outputs == REGRESSION_OUTPUTS:
            return [Expected(outputs[0], values)]
        # Binary objectives give P(class 1) per row; multiclass ones a row per class.
        probabilities = np.column_stack([1 - values, values]) if values.ndim == 1 else values
        return [
            Expected(LABEL, probabilities.argmax(axis=1), exact=True),
            Expected("probabilities", probabilities),
        ]

    return reference
