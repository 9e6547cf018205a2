"""Drift statistics against scipy and exact computations, on random and adversarial data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from modelfleet.drift import DriftConfig, FeatureOverride, compare
from modelfleet.drift._stats import chi_square, psi, z_test
from modelfleet.profile import ProfileSettings

ONE_WINDOW = DriftConfig(window_rows=10**9, min_window_rows=1)


def _config(method: str, reservoir: int = 2000) -> DriftConfig:
    return DriftConfig(
        window_rows=10**9, min_window_rows=1, reservoir_size=reservoir, method=method
    )


def _evidently_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    def fill(p: np.ndarray) -> np.ndarray:
        low = p[p != 0].min()
        return np.where(p == 0, low / 1e6 if low <= 1e-4 else 1e-4, p)

    r, c = fill(ref / ref.sum()), fill(cur / cur.sum())
    return float(np.sum((r - c) * np.log(r / c)))


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: (rng.normal(0, 1, 800), rng.normal(0.1, 1, 600)),
        lambda rng: (rng.normal(0, 1, 900), rng.normal(0, 1, 5)),  # tiny window
        lambda rng: (rng.integers(0, 8, 700).astype(float), rng.integers(0, 9, 400) * 1.0),
        lambda rng: (rng.exponential(1, 1000), rng.exponential(3, 1000)),
        lambda rng: (np.r_[np.zeros(500), rng.normal(size=200)], rng.normal(size=300)),
    ],
)
def test_ks_p_value_equals_scipy_on_the_exact_path(make: object) -> None:
    rng = np.random.default_rng(11)
    ref, cur = make(rng)  # type: ignore[operator]
    report = compare(ref[:, None], cur[:, None], config=_config("ks"))
    feature = report.features[0]
    assert feature.exact
    assert feature.statistic == pytest.approx(stats.ks_2samp(ref, cur).pvalue, abs=1e-9)


def test_wasserstein_exact_path_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(5, 2, 900), rng.normal(5.5, 2, 700)
    feature = compare(ref[:, None], cur[:, None], config=ONE_WINDOW).features[0]
    assert (feature.method, feature.exact) == ("ks", True)
    feature = compare(ref[:, None], cur[:, None], config=_config("wasserstein")).features[0]
    expected = stats.wasserstein_distance(ref, cur) / ref.std()
    assert feature.statistic == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        (lambda r: r.normal(0, 1, 100_000), lambda r: r.normal(0.3, 1.2, 100_000)),
        (lambda r: r.lognormal(0, 1, 100_000), lambda r: r.lognormal(0.2, 1, 100_000)),
        (lambda r: r.uniform(0, 1, 100_000), lambda r: r.uniform(0.5, 2, 50_000)),  # out of range
    ],
)
def test_binned_wasserstein_within_one_percent_of_scipy(ref: object, cur: object) -> None:
    rng = np.random.default_rng(5)
    r, c = ref(rng), cur(rng)  # type: ignore[operator]
    feature = compare(r[:, None], c[:, None], config=ONE_WINDOW).features[0]
    assert feature.method == "wasserstein" and not feature.exact
    expected = stats.wasserstein_distance(r, c) / r.std()
    assert feature.statistic == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("shift", [0.0, 0.2, 1.5])
def test_psi_and_jensen_shannon_match_an_exact_computation_on_the_same_bins(shift: float) -> None:
    rng = np.random.default_rng(9)
    ref, cur = rng.normal(0, 1, 100_000), rng.normal(shift, 1, 80_000)
    for method in ("psi", "jensenshannon"):
        feature = compare(ref[:, None], cur[:, None], config=_config(method)).features[0]
        h = feature.histogram
        assert h is not None and h.edges is not None
        edges = np.asarray(h.edges)
        ref_counts = np.histogram(ref, edges)[0]
        cur_counts = np.histogram(cur, edges)[0]
        below, above = int((cur < edges[0]).sum()), int((cur > edges[-1]).sum())
        if below:
            ref_counts, cur_counts = np.r_[0, ref_counts], np.r_[below, cur_counts]
        if above:
            ref_counts, cur_counts = np.r_[ref_counts, 0], np.r_[cur_counts, above]
        if method == "psi":
            expected = _evidently_psi(ref_counts.astype(float), cur_counts.astype(float))
        else:
            expected = distance.jensenshannon(ref_counts, cur_counts)
        assert feature.statistic == pytest.approx(expected, rel=0.01, abs=1e-12)
        assert len(edges) - 1 == int(np.ceil(np.log2(ref.size + cur.size) + 1))  # Sturges


def test_low_cardinality_uses_value_counts_like_evidently() -> None:
    rng = np.random.default_rng(2)
    ref = rng.choice([0.0, 1.0, 2.0], 5000, p=[0.5, 0.3, 0.2])
    cur = rng.choice([0.0, 1.0, 2.0, 7.0], 3000, p=[0.4, 0.3, 0.2, 0.1])
    feature = compare(ref[:, None], cur[:, None], config=ONE_WINDOW).features[0]
    assert feature.method == "jensenshannon"
    keys = [0.0, 1.0, 2.0, 7.0]
    r = np.array([(ref == k).sum() for k in keys])
    c = np.array([(cur == k).sum() for k in keys])
    assert feature.statistic == pytest.approx(distance.jensenshannon(r, c), rel=1e-12)
    assert feature.out_of_range_share == pytest.approx((cur == 7.0).mean())  # above the max
    small = compare(ref[:800, None], cur[:500, None], config=ONE_WINDOW).features[0]
    assert small.method == "chisquare" and small.statistic == 0.0  # unseen 7: expected 0


def test_chi_square_and_z_test_against_scipy() -> None:
    ref = np.array([500, 300, 200])
    cur = np.array([90, 70, 40])
    expected = stats.chisquare(cur, ref * cur.sum() / ref.sum()).pvalue
    assert chi_square(ref, cur) == pytest.approx(expected, rel=1e-12)
    n1, n2, p1, p2 = 1000, 400, 0.3, 0.36
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    got = z_test(np.array([300, 700]), np.array([144, 256]))
    assert got == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert z_test(np.array([10, 0]), np.array([5, 0])) == 1.0
    assert psi(np.array([5, 5]), np.array([5, 5])) == 0.0


def test_categorical_unseen_categories_and_missing() -> None:
    ref = {"plan": np.array(["a", "b"] * 300, dtype=object)}
    cur = {"plan": np.array(["a", "c", None, "b"] * 50, dtype=object)}
    feature = compare(ref, cur, config=ONE_WINDOW).features[0]
    # Two reference values: z-test (chosen from the reference; Evidently counts "c" too).
    assert feature.method == "z" and feature.drifted
    assert feature.statistic == pytest.approx(z_test(np.array([300, 300]), np.array([50, 100])))
    assert feature.missing_share == pytest.approx(0.25)
    assert feature.out_of_range_share == pytest.approx(1 / 3)
    bigger = compare({"plan": np.repeat(ref["plan"], 3)}, cur, config=ONE_WINDOW).features[0]
    r, c = np.array([900, 900, 0]), np.array([50, 50, 50])
    assert bigger.statistic == pytest.approx(distance.jensenshannon(r, c), rel=1e-12)


def test_constant_columns() -> None:
    ref = np.full((2000, 1), 3.0)
    same = compare(ref, np.full((500, 1), 3.0), config=ONE_WINDOW).features[0]
    assert (same.method, same.statistic, same.drifted) == ("jensenshannon", 0.0, False)
    moved = compare(ref, np.full((500, 1), 4.0), config=ONE_WINDOW).features[0]
    assert moved.drifted and moved.out_of_range_share == 1.0
    small = compare(ref[:100], np.full((50, 1), 3.0), config=ONE_WINDOW).features[0]
    assert (small.method, small.statistic, small.drifted) == ("z", 1.0, False)


def test_infinities_are_counted_apart_and_left_out_of_statistics() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=900), rng.normal(size=400)
    dirty = np.r_[cur, np.inf, -np.inf, np.nan, np.nan]
    feature = compare(ref[:, None], dirty[:, None], config=_config("ks")).features[0]
    assert feature.statistic == pytest.approx(stats.ks_2samp(ref, cur).pvalue, abs=1e-9)
    assert feature.inf_share == pytest.approx(2 / 404)
    assert feature.missing_share == pytest.approx(2 / 404)


def test_all_nan_window_is_reported_not_judged() -> None:
    rng = np.random.default_rng(4)
    report = compare(rng.normal(size=(900, 2)), np.full((300, 2), np.nan), config=ONE_WINDOW)
    assert not report.judged and not report.dataset_drifted
    for feature in report.features:
        assert not feature.judged and feature.statistic is None
        assert feature.missing_share == 1.0 and feature.note == "no valid values in window"


def test_million_row_window_stays_binned_and_accurate() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(size=200_000), rng.normal(0.05, 1, 1_000_000)
    config = DriftConfig(
        window_rows=10**9, features={"f0": FeatureOverride(method="ks")}, min_window_rows=1
    )
    feature = compare(
        np.c_[ref, ref], np.c_[cur, cur], config=config, settings=ProfileSettings()
    ).features
    ks, wasserstein = feature
    assert not ks.exact and ks.drifted == (stats.ks_2samp(ref, cur).pvalue <= 0.05)
    expected = stats.wasserstein_distance(ref, cur) / ref.std()
    assert wasserstein.statistic == pytest.approx(expected, rel=0.01)
    assert ks.n_valid == 1_000_000
