"""Refusals: mismatching conversions, unsupported models, bad samples, missing packages."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import xgboost as xgb
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelfleet.convert import (
    SUPPORTED,
    ConversionError,
    ConversionMismatch,
    InvalidSampleInput,
    MissingDependencyError,
    UnsupportedModelError,
    to_onnx,
)


def test_mismatch_reports_output_rows_and_differences(tabular):
    native = Ridge(alpha=1.0).fit(tabular.x, tabular.target)
    other = Ridge(alpha=1.0).fit(tabular.x, tabular.target + 0.5 * tabular.x[:, 1])
    converted = to_onnx(native, tabular.sample)
    # A broken conversion: the graph of another model, checked against the native one.
    broken = dataclasses.replace(converted, onnx_bytes=to_onnx(other, tabular.sample).onnx_bytes)

    with pytest.raises(ConversionMismatch) as caught:
        broken.verify(tabular.sample)

    error = caught.value
    gap = np.abs(other.predict(tabular.sample) - native.predict(tabular.sample))
    assert error.output == "prediction"
    assert error.rows == len(tabular.sample)
    assert error.mismatched_rows == int(
        (gap > 1e-5 + 1e-4 * np.abs(native.predict(tabular.sample))).sum()
    )
    assert error.max_abs_diff == pytest.approx(gap.max(), rel=1e-4)
    assert error.max_rel_diff > 0
    message = str(error)
    assert "'prediction'" in message and f"{error.mismatched_rows} of 200 rows" in message
    assert f"max abs diff {error.max_abs_diff:.3g}" in message


def test_label_mismatch_is_exact(tabular):
    native = LogisticRegression().fit(tabular.x, tabular.binary)
    flipped = LogisticRegression().fit(tabular.x, 1 - tabular.binary)
    converted = to_onnx(native, tabular.sample)
    broken = dataclasses.replace(converted, onnx_bytes=to_onnx(flipped, tabular.sample).onnx_bytes)

    with pytest.raises(ConversionMismatch, match="labels must match exactly") as caught:
        broken.verify(tabular.sample)
    assert caught.value.output == "label"
    assert caught.value.mismatched_rows == len(tabular.sample)
    assert caught.value.max_abs_diff == 1.0


def test_to_onnx_refuses_beyond_tolerance(tabular):
    model = Ridge().fit(tabular.x, tabular.target)
    # float32 arithmetic in the graph cannot equal float64 scikit-learn to the last bit.
    with pytest.raises(ConversionMismatch, match=r"rtol=0, atol=0"):
        to_onnx(model, tabular.sample.astype(np.float32), rtol=0.0, atol=0.0)
    unchecked = to_onnx(model, tabular.sample.astype(np.float32), verify=False, rtol=0, atol=0)
    assert unchecked.output_names == ("prediction",)


@pytest.mark.parametrize(
    "model",
    [object(), {"weights": [1, 2]}, StandardScaler(), KMeans(n_clusters=2)],
    ids=["object", "dict", "transformer", "clusterer"],
)
def test_unsupported_models_are_named(tabular, model):
    if hasattr(model, "fit"):
        model.fit(tabular.x)
    with pytest.raises(UnsupportedModelError) as caught:
        to_onnx(model, tabular.sample)
    message = str(caught.value)
    assert type(model).__name__ in message
    if not hasattr(model, "fit"):
        assert all(kind in message for kind in SUPPORTED)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (np.zeros(6), r"must be 2-D \[rows, features\]; got shape \(6,\) \(use x.reshape"),
        (np.zeros((0, 6)), r"at least one row"),
        (np.zeros((5, 4)), r"4 columns; the model was fitted on 6 features"),
        (np.array([["a"] * 6]), r"dtype <U1; expected numbers"),
        (np.zeros((2, 3, 6)), r"must be 2-D"),
        (None, r"sample_input is required"),
    ],
    ids=["1d", "empty", "width", "strings", "3d", "none"],
)
def test_bad_samples(tabular, sample, expected):
    model = Ridge().fit(tabular.x, tabular.target)
    with pytest.raises(InvalidSampleInput, match=expected):
        to_onnx(model, sample)


def test_bad_dataframes_and_feature_names(tabular):
    model = Ridge().fit(tabular.x, tabular.target)
    frame = pd.DataFrame(tabular.x, columns=list("abcdef"))
    frame["c"] = frame["c"].map(lambda v: "hi" if v > 0 else "lo").astype("category")
    with pytest.raises(InvalidSampleInput, match=r"encode these first: c \(category\)"):
        to_onnx(model, frame)
    with pytest.raises(InvalidSampleInput, match="has 5 names; sample_input has 6 columns"):
        to_onnx(model, tabular.sample, feature_names=list("abcde"))
    with pytest.raises(InvalidSampleInput, match="repeated: a"):
        to_onnx(model, tabular.sample, feature_names=list("abcdea"))
    with pytest.raises(InvalidSampleInput, match="differ from the DataFrame columns"):
        to_onnx(
            model,
            pd.DataFrame(tabular.sample, columns=list("abcdef")),
            feature_names=list("uvwxyz"),
        )
    with pytest.raises(InvalidSampleInput, match="not one string"):
        to_onnx(model, tabular.sample, feature_names="abcdef")


def test_bad_torch_samples(tabular):
    module = torch.nn.Linear(6, 1)
    with pytest.raises(InvalidSampleInput, match="at least one row"):
        to_onnx(module, np.zeros((0, 6), np.float32))
    with pytest.raises(InvalidSampleInput, match="feature_names need a 2-D sample"):
        to_onnx(module, np.zeros((2, 3, 6), np.float32), feature_names=["a"])


def test_verify_rejects_a_sample_of_the_wrong_width(tabular):
    converted = to_onnx(Ridge().fit(tabular.x, tabular.target), tabular.sample)
    with pytest.raises(
        InvalidSampleInput, match=r"dimension 1 must be 6 \(model input \[-1, 6\]\)"
    ):
        converted.verify(tabular.x[:, :3])


@pytest.mark.parametrize(
    "model",
    [LogisticRegression(), make_pipeline(StandardScaler(), Ridge()), xgb.XGBClassifier()],
    ids=["estimator", "pipeline", "xgboost"],
)
def test_unfitted_models_are_refused(tabular, model):
    with pytest.raises(ConversionError, match=f"{type(model).__name__} is not fitted"):
        to_onnx(model, tabular.sample)


def test_missing_converter_package_names_the_extra(tabular, monkeypatch):
    model = xgb.XGBRegressor(n_estimators=3, n_jobs=1).fit(tabular.x, tabular.target)
    # Not a mock of the conversion: a None entry in sys.modules is how Python itself
    # marks a module as unimportable, so `import onnxmltools` fails as if absent.
    monkeypatch.setitem(sys.modules, "onnxmltools", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'modelfleet\[ml\]'") as caught:
        to_onnx(model, tabular.sample)
    assert caught.value.package == "onnxmltools"
    assert isinstance(caught.value, ImportError)
