"""Turn trained models (scikit-learn, XGBoost, LightGBM, PyTorch, ready ONNX) into verified ONNX."""

from modelfleet.convert._dispatch import SUPPORTED, framework_of, to_onnx
from modelfleet.convert._errors import (
    ConversionError,
    ConversionMismatch,
    InvalidSampleInput,
    MissingDependencyError,
    OutputCheck,
    UnsupportedModelError,
)
from modelfleet.convert._graph import FEATURE_NAMES_KEY
from modelfleet.convert._result import DEFAULT_ATOL, DEFAULT_RTOL, ConvertedModel

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "FEATURE_NAMES_KEY",
    "SUPPORTED",
    "ConversionError",
    "ConversionMismatch",
    "ConvertedModel",
    "InvalidSampleInput",
    "MissingDependencyError",
    "OutputCheck",
    "UnsupportedModelError",
    "framework_of",
    "to_onnx",
]
