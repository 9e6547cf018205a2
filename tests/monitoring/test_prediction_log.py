"""The bounded prediction log and the rolling quality figures (in process, against sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from modelfleet.agent.node.monitor._predictions import LoggedPrediction, PredictionLog
from modelfleet.agent.node.monitor._quality import CLASSIFICATION, REGRESSION, RollingQuality


def test_log_evicts_oldest_and_reports_evicted_ids_as_unknown() -> None:
    log = PredictionLog(capacity=3)
    for i in range(5):
        log.add(f"r{i}", LoggedPrediction("1", np.array([i % 2]), None))
    assert len(log) == 3 and log.evicted == 2
    assert "r0" not in log and "r1" not in log and "r4" in log
    quality = RollingQuality(CLASSIFICATION)
    result = log.join([{"id": "r0", "label": 0}, {"id": "r3", "label": 1}], lambda _: quality)
    assert result.unknown_ids == ["r0"] and result.accepted == 1
    assert quality.metrics()["accuracy"] == 1.0


def test_rolling_window_keeps_the_newest_labels_only() -> None:
    quality = RollingQuality(REGRESSION, window=4)
    quality.add([1.0, 2.0], np.array([1.5, 2.0]), None)
    quality.add([3.0, 4.0, 5.0], np.array([3.0, 4.0, 7.0]), None)
    assert quality.labelled == 4 and quality.total == 5
    truth, predicted = [2.0, 3.0, 4.0, 5.0], [2.0, 3.0, 4.0, 7.0]
    assert quality.metrics()["mae"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    rmse = np.sqrt(skm.mean_squared_error(truth, predicted))
    assert quality.metrics()["rmse"] == pytest.approx(rmse)


def test_multiclass_macro_figures_and_ovr_auc_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    scores = rng.dirichlet(np.ones(3), size=500)
    truth = rng.integers(0, 3, size=500)
    predicted = np.where(rng.random(500) < 0.7, truth, scores.argmax(axis=1))
    quality = RollingQuality(CLASSIFICATION)
    quality.add(truth.tolist(), predicted, scores)
    got = quality.metrics()
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted), abs=1e-12)
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert got[name] == pytest.approx(fn(truth, predicted, average="macro"), abs=1e-12)
    expected_auc = skm.roc_auc_score(truth, scores, multi_class="ovr", average="macro")
    assert got["auc"] == pytest.approx(expected_auc, abs=1e-12)


def test_tied_scores_share_ranks_like_sklearn() -> None:
    truth = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    score = np.array([0.2, 0.2, 0.8, 0.5, 0.5, 0.1, 0.8, 0.2])
    quality = RollingQuality(CLASSIFICATION)
    quality.add(truth.tolist(), (score > 0.4).astype(np.int64), np.stack([1 - score, score], 1))
    assert quality.metrics()["auc"] == pytest.approx(skm.roc_auc_score(truth, score), abs=1e-12)
