"""Data drift: Evidently-compatible statistics over bounded, vectorised streaming windows."""

from modelfleet.drift._accumulator import DriftAccumulator
from modelfleet.drift._compare import compare
from modelfleet.drift._config import (
    CHI_SQUARE,
    DEFAULT_THRESHOLDS,
    JENSEN_SHANNON,
    KS,
    METHODS,
    PSI,
    WASSERSTEIN,
    Z_TEST,
    DriftConfig,
    DriftError,
    FeatureOverride,
    default_method,
)
from modelfleet.drift._evaluate import evaluate
from modelfleet.drift._html import render_html
from modelfleet.drift._plan import DriftPlan
from modelfleet.drift._report import DriftReport, FeatureDrift, Histogram
from modelfleet.drift._window import DriftWindow

__all__ = [
    "CHI_SQUARE",
    "DEFAULT_THRESHOLDS",
    "JENSEN_SHANNON",
    "KS",
    "METHODS",
    "PSI",
    "WASSERSTEIN",
    "Z_TEST",
    "DriftAccumulator",
    "DriftConfig",
    "DriftError",
    "DriftPlan",
    "DriftReport",
    "DriftWindow",
    "FeatureDrift",
    "FeatureOverride",
    "Histogram",
    "compare",
    "default_method",
    "evaluate",
    "render_html",
]
