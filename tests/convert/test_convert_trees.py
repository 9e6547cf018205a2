"""XGBoost and LightGBM models (wrappers and raw Boosters) convert with onnxmltools."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import onnxruntime
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelfleet.convert import ConversionMismatch, to_onnx

# One thread: OpenMP workers spin badly when the two cores are shared.
TREES = {"n_estimators": 20, "max_depth": 3, "n_jobs": 1}


def run(converted, x):
    session = onnxruntime.InferenceSession(converted.onnx_bytes, providers=["CPUExecutionProvider"])
    return dict(zip(converted.output_names, session.run(None, {"input": x}), strict=True))


@pytest.mark.parametrize("labels", ["binary", "multiclass"])
def test_xgboost_classifier(tabular, labels):
    y = getattr(tabular, labels)
    model = xgb.XGBClassifier(**TREES, random_state=0).fit(tabular.x, y)

    converted = to_onnx(model, tabular.sample)

    assert (converted.framework, converted.framework_version) == ("xgboost", xgb.__version__)
    assert converted.converter.startswith("onnxmltools ")
    # The tree converters take float32 only; XGBoost splits on float32 itself.
    assert converted.input_dtype == np.float32
    assert converted.output_names == ("label", "probabilities")
    out = run(converted, tabular.x[:50].astype(np.float32))
    np.testing.assert_array_equal(out["label"], model.predict(tabular.x[:50]))
    assert out["probabilities"].shape == (50, len(np.unique(y)))
    label, probabilities = converted.verify(tabular.x)
    assert label.mismatched_rows == 0 and probabilities.max_abs_diff < 1e-5


def test_xgboost_regressor_and_boosters(tabular):
    regressor = xgb.XGBRegressor(**TREES).fit(tabular.x, tabular.target)
    assert to_onnx(regressor, tabular.sample).output_names == ("prediction",)

    train = xgb.DMatrix(tabular.x, label=tabular.binary)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, train, 15)
    converted = to_onnx(booster, tabular.sample)
    assert converted.output_names == ("label", "probabilities")

    train = xgb.DMatrix(tabular.x, label=tabular.target)
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "nthread": 1}, train, 15)
    assert to_onnx(booster, tabular.sample).output_names == ("prediction",)


def test_xgboost_trained_on_named_columns(tabular):
    names = ["age", "income", "tenure", "visits", "spend", "tickets"]
    frame = pd.DataFrame(tabular.x, columns=names)
    model = xgb.XGBClassifier(**TREES).fit(frame, tabular.multiclass)

    converted = to_onnx(model, frame.iloc[:150])

    assert converted.feature_names == tuple(names)
    # A numpy sample still verifies: the names came from the fitted model.
    assert to_onnx(model, tabular.sample.astype(np.float32)).feature_names == tuple(names)


@pytest.mark.parametrize("labels", ["binary", "multiclass"])
def test_lightgbm_classifier(tabular, labels):
    y = getattr(tabular, labels)
    model = lgb.LGBMClassifier(**TREES, verbose=-1).fit(tabular.x, y)

    converted = to_onnx(model, tabular.sample.astype(np.float32))

    assert (converted.framework, converted.framework_version) == ("lightgbm", lgb.__version__)
    assert converted.output_names == ("label", "probabilities")
    assert converted.input_shape == (None, tabular.x.shape[1])
    out = run(converted, tabular.x[:7].astype(np.float32))
    assert out["label"].shape == (7,)
    assert out["probabilities"].shape == (7, len(np.unique(y)))


def test_lightgbm_regressor_and_boosters(tabular):
    names = [f"c{i}" for i in range(tabular.x.shape[1])]
    frame = pd.DataFrame(tabular.x.astype(np.float32), columns=names)
    regressor = lgb.LGBMRegressor(**TREES, verbose=-1).fit(frame, tabular.target)
    converted = to_onnx(regressor, frame.iloc[:200])
    assert converted.output_names == ("prediction",)
    assert converted.feature_names == tuple(names)

    x = tabular.x.astype(np.float32)
    params = {
        "objective": "multiclass",
        "num_class": 3,
        "verbose": -1,
        "max_depth": 3,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(x, label=tabular.multiclass), 10)
    multiclass = to_onnx(booster, x[:200])
    assert multiclass.output_names == ("label", "probabilities")
    # Unnamed training data gets LightGBM's Column_<i> names, which carry no meaning.
    assert multiclass.feature_names is None

    params = {"objective": "regression", "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, label=tabular.target), 10)
    assert to_onnx(booster, x[:200]).output_names == ("prediction",)


def test_scikit_learn_pipelines_ending_in_xgboost_or_lightgbm(tabular):
    # An imputer, not a scaler: rescaled training rows sit on split thresholds, and one
    # ulp of rounding difference moves them to another leaf (next test).
    x = tabular.x.astype(np.float32)
    x[::10, 2] = np.nan
    classifier = make_pipeline(SimpleImputer(), xgb.XGBClassifier(**TREES))
    classifier.fit(x, tabular.multiclass)
    regressor = make_pipeline(SimpleImputer(), lgb.LGBMRegressor(**TREES, verbose=-1))
    regressor.fit(x, tabular.target)

    converted = to_onnx(classifier, x[:200])

    assert converted.framework == "scikit-learn"
    assert converted.output_names == ("label", "probabilities")
    out = run(converted, x[:30])
    np.testing.assert_array_equal(out["label"], classifier.predict(x[:30]))
    assert to_onnx(regressor, x[:200]).output_names == ("prediction",)


def test_float64_scaling_before_trees_is_caught(tabular):
    classifier = make_pipeline(StandardScaler(), xgb.XGBClassifier(**TREES))
    classifier.fit(tabular.x, tabular.multiclass)

    with pytest.raises(ConversionMismatch) as caught:
        to_onnx(classifier, tabular.sample)

    assert caught.value.output in ("label", "probabilities")
    assert 0 < caught.value.mismatched_rows < len(tabular.sample)
