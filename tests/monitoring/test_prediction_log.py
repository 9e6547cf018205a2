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


def _rows(*values: int) -> LoggedPrediction:
    return LoggedPrediction("1", np.array(values), np.array([[1.0 - v, v] for v in values]))


def test_log_is_bounded_by_rows_not_requests() -> None:
    log = PredictionLog(capacity=10)
    log.add("a", _rows(1, 0, 1, 1))  # rows 0-3
    log.add("b", _rows(0, 0, 0))  # rows 4-6
    log.add("c", _rows(1, 1))  # rows 7-8
    assert len(log) == 3 and log.evicted == 0
    log.add("d", _rows(0, 1))  # rows 9-10: row 0 is overwritten, so all of "a" goes
    assert len(log) == 3 and log.evicted == 1 and "a" not in log and "b" in log
    log.add("e", _rows(1, 1, 1, 1, 1))  # rows 11-15: "b" (4-6) goes, "c" (7-8) stays
    assert "b" not in log and "c" in log and log.evicted == 2
    log.add("big", _rows(*[1] * 11))  # more rows than the log holds: never logged
    assert "big" not in log and log.evicted == 3 and "c" in log
    quality = RollingQuality(CLASSIFICATION)
    result = log.join(
        [
            {"id": "a", "label": [1, 0, 1, 1]},
            {"id": "c", "label": [1, 0]},
            {"id": "big", "label": 1},
        ],
        lambda _: quality,
    )
    assert result.unknown_ids == ["a", "big"] and result.accepted == 1
    assert quality.labelled == 2 and quality.metrics()["accuracy"] == 0.5


def test_a_batch_larger_than_the_log_loses_only_its_too_large_requests() -> None:
    log = PredictionLog(capacity=10)
    log.add("c", _rows(1, 1))
    both = _rows(0, 1, *[1] * 11)
    log.record(["small", "big"], [2, 11], "1", both.predicted, both.scores)
    assert "c" in log and "small" in log and "big" not in log and log.evicted == 1
    entry = log.get("small")
    assert entry is not None and entry.predicted.tolist() == [0, 1]


def test_multi_row_request_straddling_the_wrap_around_keeps_its_rows() -> None:
    log = PredictionLog(capacity=8)
    for i in range(6):  # rows 0-5
        log.add(f"r{i}", _rows(i % 2))
    log.add("wrap", _rows(1, 0, 0, 1))  # rows 6-9: positions 6, 7, 0, 1
    entry = log.get("wrap")
    assert entry is not None and entry.predicted.tolist() == [1, 0, 0, 1]
    assert entry.scores is not None and entry.scores[:, 1].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert "r1" not in log and "r2" in log and log.evicted == 2
    quality = RollingQuality(CLASSIFICATION)
    result = log.join([{"id": "wrap", "label": [1, 0, 1, 1]}], lambda _: quality)
    assert result.accepted == 1 and quality.metrics()["accuracy"] == 0.75
    assert quality.metrics()["auc"] == pytest.approx(2.5 / 3)  # scores 1, 0, 1 vs 0
    again = log.join([{"id": "wrap", "label": [1, 0, 0, 1]}], lambda _: quality)
    assert again.accepted == 0 and again.duplicate_ids == ["wrap"]


def test_a_reused_id_means_its_newest_prediction_and_is_unlabelled_again() -> None:
    log = PredictionLog(capacity=100)
    log.add("same", _rows(1))
    quality = RollingQuality(CLASSIFICATION)
    assert log.join([{"id": "same", "label": 1}], lambda _: quality).accepted == 1
    log.add("other", _rows(0))
    log.add("same", _rows(0, 0))  # a second request with the same id replaces the first
    assert len(log) == 2
    entry = log.get("same")
    assert entry is not None and entry.predicted.tolist() == [0, 0] and not entry.labelled
    result = log.join([{"id": "same", "label": [0, 1]}], lambda _: quality)
    assert result.accepted == 1 and quality.labelled == 3


def test_ring_matches_a_plain_model_of_the_log_across_growth_wraps_and_versions() -> None:
    rng = np.random.default_rng(7)
    capacity = 3000
    log = PredictionLog(capacity=capacity)
    model: dict[str, tuple[int, str, np.ndarray, np.ndarray | None]] = {}
    head = 0
    for i in range(1500):
        # one batch: 1-5 requests of 1-30 rows each, their rows one after the other
        rows = [int(r) for r in rng.integers(1, 30, int(rng.integers(1, 6)))]
        n = sum(rows)
        version = "2" if rng.random() < 0.3 else "1"
        if version == "2":  # another layout: float predictions without scores
            predicted, scores = rng.random(n), None
        else:
            predicted, scores = rng.integers(0, 3, n), rng.random((n, 3)).astype(np.float32)
        ids = [f"q{int(q)}" for q in rng.integers(0, 1200, len(rows))]  # some ids are reused
        log.record(ids, list(rows), version, predicted, scores)
        offset = 0
        for request_id, count in zip(ids, rows, strict=True):
            model.pop(request_id, None)
            part = None if scores is None else scores[offset : offset + count]
            model[request_id] = (head, version, predicted[offset : offset + count].copy(), part)
            head += count
            offset += count
        if i % 37 == 0:
            live = {k: v for k, v in model.items() if v[0] >= head - capacity}
            assert len(log) == len(live)
            for request_id, (_, version, predicted, scores) in live.items():
                entry = log.get(request_id)
                assert entry is not None and entry.version == version
                np.testing.assert_array_equal(entry.predicted, predicted)
                if scores is None:
                    assert entry.scores is None
                else:
                    np.testing.assert_array_equal(entry.scores, scores)
            assert all(log.get(k) is None for k in model.keys() - live.keys())


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
