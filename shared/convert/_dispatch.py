"""`to_onnx`: recognise the model's framework (without importing absent ones) and convert it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from modelfleet.convert import _onnxfile, _sklearn, _torch, _trees
from modelfleet.convert._conversion import Conversion, finish
from modelfleet.convert._errors import ConversionError, InvalidSampleInput, UnsupportedModelError
from modelfleet.convert._result import DEFAULT_ATOL, DEFAULT_RTOL, ConvertedModel
from modelfleet.convert._sample import TabularSample, check_feature_names, tabular_sample

SUPPORTED = (
    "scikit-learn estimators and pipelines (classifiers, regressors)",
    "XGBoost XGBClassifier, XGBRegressor, Booster",
    "LightGBM LGBMClassifier, LGBMRegressor, Booster",
    "PyTorch torch.nn.Module",
    "ONNX: a path to a .onnx file, its bytes, or an onnx.ModelProto",
)


@dataclass(frozen=True)
class _Tabular:
    """How one tree/estimator framework reads its model and converts it."""

    accepted_dtypes: tuple[np.dtype[Any], ...]
    n_features: Callable[[Any], int | None]
    fitted_feature_names: Callable[[Any], tuple[str, ...] | None]
    convert: Callable[[Any, TabularSample, int | None], Conversion]


_TABULAR = {
    "scikit-learn": _Tabular(
        _sklearn.ACCEPTED_DTYPES,
        _sklearn.n_features,
        _sklearn.fitted_feature_names,
        _sklearn.convert,
    ),
    "xgboost": _Tabular(
        _trees.ACCEPTED_DTYPES,
        _trees.xgboost_n_features,
        _trees.xgboost_feature_names,
        _trees.convert_xgboost,
    ),
    "lightgbm": _Tabular(
        _trees.ACCEPTED_DTYPES,
        _trees.lightgbm_n_features,
        _trees.lightgbm_feature_names,
        _trees.convert_lightgbm,
    ),
}


def framework_of(model: object) -> str:
    """'onnx', 'pytorch', 'xgboost', 'lightgbm' or 'scikit-learn'.

    Looks only at modules already imported: a model object of a framework implies that
    framework is loaded, so nothing absent is ever imported here.
    """
    if isinstance(model, (str, os.PathLike, bytes, onnx.ModelProto)):
        return "onnx"
    checks = (
        ("torch", "pytorch", lambda m: (m.nn.Module,)),
        ("xgboost", "xgboost", lambda m: (m.XGBModel, m.Booster)),
        ("lightgbm", "lightgbm", lambda m: (m.LGBMModel, m.Booster)),
        ("sklearn.base", "scikit-learn", lambda m: (m.BaseEstimator,)),
    )
    for module_name, framework, types in checks:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(model, types(module)):
            return framework
    kind = type(model)
    raise UnsupportedModelError(
        f"cannot convert a {kind.__module__}.{kind.__qualname__}; supported: "
        + "; ".join(SUPPORTED)
    )


def to_onnx(
    model: object,
    sample_input: object,
    *,
    feature_names: Sequence[str] | None = None,
    target_opset: int | None = None,
    name: str | None = None,
    verify: bool = True,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> ConvertedModel:
    """Convert `model` to ONNX with one input "input" and check it on `sample_input`.

    Tabular models get a 2-D input [-1, n_features] in the sample's float dtype (float32
    when the converter takes no other, or the sample is not float). Classifiers output
    "label" and "probabilities" ("scores" without predict_proba), regressors
    "prediction", PyTorch modules "output" (or "output_0".. for several tensors).
    Feature names (from `feature_names`, DataFrame columns, or the fitted model) are
    written to the "modelfleet.feature_names" metadata entry. With `verify` (the
    default) a mismatch beyond `rtol`/`atol` raises `ConversionMismatch`. A ready ONNX
    model is validated and, when `sample_input` is not None, run on it.
    """
    framework = framework_of(model)
    if framework == "onnx":
        converted = _ready_onnx(model, name=name, feature_names=feature_names)
        if verify and sample_input is not None:
            converted.verify(sample_input, rtol=rtol, atol=atol)
        return converted
    display_name = name or type(model).__name__
    if framework == "pytorch":
        array = _torch.sample_array(model, sample_input)
        if feature_names is not None and array.ndim != 2:
            raise InvalidSampleInput(
                f"feature_names need a 2-D sample [rows, features]; got shape {array.shape}"
            )
        names = check_feature_names(feature_names, None, array.shape[-1])
        conversion = _torch.convert(model, array, target_opset)
        converted = finish(conversion, name=display_name, feature_names=names, batch_axis=False)
    else:
        spec = _TABULAR[framework]
        _require_fitted(model)
        sample = tabular_sample(
            sample_input,
            feature_names=feature_names,
            accepted_dtypes=spec.accepted_dtypes,
            n_features=spec.n_features(model),
        )
        conversion = spec.convert(model, sample, target_opset)
        converted = finish(
            conversion,
            name=display_name,
            feature_names=sample.feature_names or spec.fitted_feature_names(model),
        )
    if verify:
        converted.verify(sample_input, rtol=rtol, atol=atol)
    return converted


def _require_fitted(model: object) -> None:
    """Refuse an untrained scikit-learn-API estimator before a converter trips over it."""
    base = sys.modules.get("sklearn.base")
    if base is None or not isinstance(model, base.BaseEstimator):
        return  # a Booster exists only once trained
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise ConversionError(
            f"{type(model).__name__} is not fitted: call fit() before converting it"
        ) from exc


def _ready_onnx(
    model: object, *, name: str | None, feature_names: Sequence[str] | None
) -> ConvertedModel:
    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)  # the caller's object stays as it was
    else:
        assert isinstance(model, (str, os.PathLike, bytes))
        proto = _onnxfile.load(model)
        if name is None and not isinstance(model, bytes):
            name = proto.graph.name or os.path.splitext(os.path.basename(model))[0]
    return _onnxfile.check(proto, name=name, feature_names=feature_names)
