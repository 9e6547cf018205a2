"""Streaming windows: tumbling by rows and time, bounded memory, agreement with offline compare."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelfleet.drift import (
    DriftAccumulator,
    DriftConfig,
    DriftError,
    FeatureOverride,
    compare,
    default_method,
    evaluate,
)
from modelfleet.profile import compute_profile


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    rng = np.random.default_rng(21)
    return np.c_[rng.normal(0, 1, 900), rng.exponential(2, 900), rng.integers(0, 3, 900)]


def test_row_windows_split_batches_and_match_offline_compare(reference: np.ndarray) -> None:
    profile = compute_profile(reference, ["a", "b", "c"])
    rng = np.random.default_rng(3)
    stream = np.c_[rng.normal(0.4, 1, 2500), rng.exponential(2, 2500), rng.integers(0, 3, 2500)]
    acc = DriftAccumulator(profile, DriftConfig(window_rows=1000), seed=1)
    closed = []
    for start in range(0, 2500, 64):
        closed += acc.update(stream[start : start + 64], now=float(start))
    assert [w.n_rows for w in closed] == [1000, 1000]
    assert acc.current is not None and acc.current.n_rows == 500
    for i, window in enumerate(closed):
        rows = stream[i * 1000 : (i + 1) * 1000]
        report = evaluate(window)
        offline = compare(profile, rows, config=DriftConfig(window_rows=1000))
        for streamed, batch in zip(report.features, offline.features, strict=True):
            assert streamed.method == batch.method
            assert streamed.statistic == pytest.approx(batch.statistic, rel=1e-12, abs=1e-15)
        ks = report.feature("a")
        assert ks.method == "ks" and ks.exact
        expected = stats.ks_2samp(reference[:, 0], rows[:, 0]).pvalue
        assert ks.statistic == pytest.approx(expected, abs=1e-9)
        assert ks.mean == pytest.approx(rows[:, 0].mean()) and ks.std == pytest.approx(
            rows[:, 0].std()
        )
        assert report.feature("a").drifted and not report.feature("b").drifted
    last = acc.flush()
    assert last is not None and last.n_rows == 500 and acc.current is None


def test_time_windows_close_on_the_next_batch(reference: np.ndarray) -> None:
    profile = compute_profile(reference)
    acc = DriftAccumulator(profile, DriftConfig(window_rows=None, window_seconds=10))
    assert acc.update(reference[:100], now=0.0) == []
    assert acc.update(reference[100:200], now=9.9) == []
    closed = acc.update(reference[200:250], now=10.0)
    assert len(closed) == 1 and closed[0].n_rows == 200
    assert (closed[0].started_at, closed[0].ended_at) == (0.0, 9.9)
    assert acc.current is not None and acc.current.started_at == 10.0


def test_small_windows_are_reported_but_not_judged(reference: np.ndarray) -> None:
    profile = compute_profile(reference)
    acc = DriftAccumulator(profile, DriftConfig(window_rows=1000, min_window_rows=100))
    acc.update(reference[:40] + 100)
    window = acc.flush()
    assert window is not None
    report = evaluate(window)
    assert not report.judged and not report.dataset_drifted and report.n_rows == 40
    assert all(f.note == "window below min_window_rows" for f in report.features)


def test_memory_is_bounded_and_reservoir_stays_uniform(reference: np.ndarray) -> None:
    profile = compute_profile(reference)
    acc = DriftAccumulator(profile, DriftConfig(window_rows=10**7, reservoir_size=500), seed=3)
    window = None
    rng = np.random.default_rng(0)
    for _ in range(20):
        acc.update(np.c_[rng.uniform(0, 1, (50_000, 2)), rng.integers(0, 3, 50_000)])
        window = acc.current
        assert window is not None
        sizes = (window.slot_counts.nbytes, window.reservoir.nbytes, window.low_counts.nbytes)
        assert sizes == (3 * (1800 + 5) * 8, 3 * 500 * 8, 1 * 3 * 8)
    assert window is not None and window.n_rows == 1_000_000 and not window.reservoir_is_complete
    sample = window.reservoir_column(0)
    assert sample.size == 500 and stats.kstest(sample, "uniform").pvalue > 0.001
    assert window.low_counts.sum() == 1_000_000


def test_categorical_batches_as_column_mappings() -> None:
    rng = np.random.default_rng(5)
    ref = {"x": rng.normal(size=3000), "plan": rng.choice(["a", "b", "c"], 3000).astype(object)}
    profile = compute_profile(ref)
    acc = DriftAccumulator(profile, DriftConfig(window_rows=2000))
    cur = {"x": rng.normal(size=2000), "plan": rng.choice(["a", "z"], 2000).astype(object)}
    (window,) = acc.update(cur)
    report = evaluate(window)
    plan = report.feature("plan")
    assert plan.method == "jensenshannon" and plan.drifted
    assert plan.out_of_range_share == pytest.approx((cur["plan"] == "z").mean())
    assert not report.feature("x").drifted and report.share_drifted == 0.5
    assert report.dataset_drifted  # share >= 0.5
    with pytest.raises(DriftError, match=r"batch: .*missing feature"):
        acc.update({"x": np.zeros(3)})


def test_bad_batches_and_configuration_are_refused(reference: np.ndarray) -> None:
    profile = compute_profile(reference, ["a", "b", "c"])
    acc = DriftAccumulator(profile)
    with pytest.raises(DriftError, match=r"batch: expected shape \(rows, 3\)"):
        acc.update(np.zeros((4, 2)))
    with pytest.raises(DriftError, match="window_rows: expected an integer >= 1"):
        DriftConfig(window_rows=0)
    with pytest.raises(DriftError, match="window_rows/window_seconds"):
        DriftConfig(window_rows=None)
    with pytest.raises(DriftError, match=r"features\.a\.method: expected one of"):
        DriftConfig(features={"a": FeatureOverride(method="magic")})
    with pytest.raises(DriftError, match=r"features\.zz: not a feature"):
        DriftAccumulator(profile, DriftConfig(features={"zz": FeatureOverride(threshold=0.2)}))
    with pytest.raises(DriftError, match=r"features\.a\.method: chisquare needs a categorical"):
        DriftAccumulator(profile, DriftConfig(features={"a": FeatureOverride("chisquare")}))
    with pytest.raises(DriftError, match="drift_pct: unknown drift setting"):
        DriftConfig.from_dict({"drift_pct": 0.3})
    config = DriftConfig.from_dict({"window_rows": 500, "features": {"a": {"threshold": 0.01}}})
    assert config.features["a"] == FeatureOverride(threshold=0.01)


def test_overrides_change_method_and_threshold(reference: np.ndarray) -> None:
    profile = compute_profile(reference, ["a", "b", "c"])
    config = DriftConfig(
        window_rows=900,
        threshold=0.2,
        features={"a": FeatureOverride(method="psi"), "c": FeatureOverride(threshold=0.9)},
    )
    report = compare(profile, reference, config=config)
    a, b, c = report.features
    assert (a.method, a.threshold) == ("psi", 0.2)
    assert (b.method, b.threshold) == ("ks", 0.2)
    assert (c.method, c.threshold, c.statistic) == ("chisquare", 0.9, pytest.approx(1.0))
    assert c.drifted is False


def test_default_method_follows_evidently() -> None:
    rng = np.random.default_rng(0)
    small = compute_profile(
        {
            "wide": rng.normal(size=500),
            "five": rng.integers(0, 5, 500).astype(float),
            "two": rng.integers(0, 2, 500).astype(float),
            "cat3": rng.choice(["a", "b", "c"], 500).astype(object),
            "cat2": rng.choice(["a", "b"], 500).astype(object),
        }
    )
    assert [default_method(f) for f in small.features] == ["ks", "chisquare", "z", "chisquare", "z"]
    large = compute_profile(
        {
            "wide": rng.normal(size=5000),
            "five": rng.integers(0, 5, 5000).astype(float),
            "cat": rng.choice(["a", "b", "c"], 5000).astype(object),
        }
    )
    expected = ["wasserstein", "jensenshannon", "jensenshannon"]
    assert [default_method(f) for f in large.features] == expected
