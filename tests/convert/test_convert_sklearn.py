"""scikit-learn models convert with skl2onnx and their ONNX outputs match the native ones."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from modelfleet.convert import FEATURE_NAMES_KEY, to_onnx


def run(converted, x):
    session = onnxruntime.InferenceSession(converted.onnx_bytes, providers=["CPUExecutionProvider"])
    return dict(zip(converted.output_names, session.run(None, {"input": x}), strict=True))


def test_pipeline_classifier_outputs_plain_label_and_probabilities(tabular):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(tabular.x, tabular.multiclass)

    converted = to_onnx(model, tabular.sample.astype(np.float32), name="churn")

    assert converted.framework == "scikit-learn"
    assert converted.converter.startswith("skl2onnx ")
    assert converted.input_names == ("input",)
    assert converted.input_dtype == np.float32
    assert converted.input_shape == (None, tabular.x.shape[1])
    assert converted.output_names == ("label", "probabilities")
    assert converted.opset is not None and converted.opset >= 9
    proto = onnx.load_from_string(converted.onnx_bytes)
    assert proto.graph.name == "churn"
    assert not [n for n in proto.graph.node if n.op_type == "ZipMap"]
    # The batch axis is symbolic: any number of rows runs.
    out = run(converted, tabular.x[:3].astype(np.float32))
    assert out["probabilities"].shape == (3, 3)
    np.testing.assert_array_equal(out["label"], model.predict(tabular.x[:3].astype(np.float32)))
    checks = converted.verify(tabular.x.astype(np.float32))
    assert [c.output for c in checks] == ["label", "probabilities"]
    assert all(c.mismatched_rows == 0 and c.rows == len(tabular.x) for c in checks)


def test_float64_sample_gives_a_double_input_and_string_labels_survive(tabular):
    labels = np.where(tabular.binary == 1, "churned", "stayed")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(tabular.x, labels)

    converted = to_onnx(model, tabular.sample)

    assert converted.input_dtype == np.float64
    out = run(converted, tabular.x[:20])
    assert list(out["label"]) == list(model.predict(tabular.x[:20]))


def test_regressor_and_tree_ensemble(tabular):
    ridge = to_onnx(Ridge(alpha=0.5).fit(tabular.x, tabular.target), tabular.sample)
    assert ridge.output_names == ("prediction",)
    (check,) = ridge.verify(tabular.sample)
    assert check.max_abs_diff is not None and check.max_abs_diff < 1e-6

    forest = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)
    converted = to_onnx(forest.fit(tabular.x, tabular.binary), tabular.sample)
    assert converted.output_names == ("label", "probabilities")


def test_classifier_without_predict_proba_outputs_scores(tabular):
    model = LinearSVC().fit(tabular.x, tabular.binary)

    converted = to_onnx(model, tabular.sample)

    assert converted.output_names == ("label", "scores")
    assert [c.output for c in converted.verify(tabular.sample)] == ["label"]


def test_dataframe_columns_become_feature_names_in_metadata(tabular):
    columns = [f"feature_{i}" for i in range(tabular.x.shape[1])]
    frame = pd.DataFrame(tabular.x, columns=columns)
    frame["feature_1"] = frame["feature_1"].round().astype(np.int64)  # mixed dtypes are fine
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, tabular.binary)

    converted = to_onnx(model, frame.iloc[:100])

    assert converted.feature_names == tuple(columns)
    props = {p.key: p.value for p in onnx.load_from_string(converted.onnx_bytes).metadata_props}
    assert json.loads(props[FEATURE_NAMES_KEY]) == columns
    assert props["modelfleet.framework"] == "scikit-learn"


def test_feature_names_argument_and_fitted_names(tabular):
    names = ["age", "income", "tenure", "visits", "spend", "tickets"]
    model = Ridge().fit(tabular.x, tabular.target)
    assert to_onnx(model, tabular.sample, feature_names=names).feature_names == tuple(names)

    fitted_on_frame = Ridge().fit(pd.DataFrame(tabular.x, columns=names), tabular.target)
    # A model fitted on a DataFrame remembers its columns even when sampled with numpy.
    with pytest.warns(UserWarning, match="feature names"):
        converted = to_onnx(fitted_on_frame, tabular.sample)
    assert converted.feature_names == tuple(names)
