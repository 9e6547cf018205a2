"""Drift benchmark: 100k x 20 report time, per-batch accumulator cost, agreement with scipy.

Prints one JSON line. Timings are medians over repeated runs on a shared machine: compare
ratios within one run rather than absolute numbers across runs.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from modelfleet.drift import DriftAccumulator, DriftConfig, compare, evaluate, render_html
from modelfleet.profile import compute_profile

ROWS, FEATURES = 100_000, 20


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 features of mixed shapes; the current set shifts 6 of them."""
    rng = np.random.default_rng(seed)

    def draw(shift: float) -> dict[str, np.ndarray]:
        cols: dict[str, np.ndarray] = {}
        for i in range(5):
            cols[f"normal_{i}"] = rng.normal(shift * (i < 2), 1 + i, rows)
            cols[f"lognormal_{i}"] = rng.lognormal(shift * (i < 2), 1, rows)
            cols[f"uniform_{i}"] = rng.uniform(shift * (i < 1), 10, rows)
            cols[f"count_{i}"] = rng.poisson(3 + shift * (i < 1), rows).astype(float)
        return cols

    return pd.DataFrame(draw(0.0)), pd.DataFrame(draw(0.5))


def median_ms(
    fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median over runs; with time.process_time, the CPU time (less hurt by a busy machine)."""
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        samples.append((clock() - start) * 1e3)
    return statistics.median(samples)


def ks_agreement(seed: int = 1) -> float:
    """Max |p - scipy p| over exact-path windows (reference and window fit the reservoirs)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    config = DriftConfig(window_rows=10**9, min_window_rows=1, method="ks")
    for shift in (0.0, 0.05, 0.2, 1.0):
        ref = rng.normal(0, 1, (900, FEATURES))
        cur = rng.normal(shift, 1, (700, FEATURES))
        ref[:, 0] = np.round(ref[:, 0], 1)  # ties
        report = compare(ref, cur, config=config)
        for i, feature in enumerate(report.features):
            expected = stats.ks_2samp(ref[:, i], cur[:, i]).pvalue
            worst = max(worst, abs(float(feature.statistic or 0.0) - expected))
    return worst


def binned_agreement(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, float]:
    """Max relative difference: PSI/JS vs an exact computation on the same bins, W vs scipy."""
    worst = {"psi": 0.0, "jensenshannon": 0.0, "wasserstein": 0.0}
    columns = [c for c in ref.columns if not c.startswith("count")]
    for method in worst:
        config = DriftConfig(window_rows=10**9, method=method)
        report = compare(ref[columns], cur[columns], config=config)
        for feature in report.features:
            r, c = ref[feature.name].to_numpy(), cur[feature.name].to_numpy()
            if method == "wasserstein":
                exact = stats.wasserstein_distance(r, c) / r.std()
            else:
                h = feature.histogram
                assert h is not None and h.edges is not None
                edges = np.asarray(h.edges)
                rc, cc = np.histogram(r, edges)[0], np.histogram(c, edges)[0]
                below, above = int((c < edges[0]).sum()), int((c > edges[-1]).sum())
                if below:
                    rc, cc = np.r_[0, rc], np.r_[below, cc]
                if above:
                    rc, cc = np.r_[rc, 0], np.r_[cc, above]
                exact = _psi(rc, cc) if method == "psi" else distance.jensenshannon(rc, cc)
            got = float(feature.statistic or 0.0)
            worst[method] = max(worst[method], abs(got - exact) / max(abs(exact), 1e-12))
    return worst


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    def fill(p: np.ndarray) -> np.ndarray:
        low = p[p != 0].min()
        return np.where(p == 0, low / 1e6 if low <= 1e-4 else 1e-4, p)

    r, c = fill(ref / ref.sum()), fill(cur / cur.sum())
    return float(np.sum((r - c) * np.log(r / c)))


def accumulator_cost(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, float]:
    """CPU cost of updating with a 64-row x 20 batch (us) and of evaluating a 1000-row window (ms).

    CPU time rather than wall time: on a busy shared machine wall time mostly measures waiting.
    """
    profile = compute_profile(ref)
    acc = DriftAccumulator(profile, DriftConfig(window_rows=1000), seed=0)
    batch = cur.to_numpy()[:64]
    windows = []
    repeat = 2000
    start = time.process_time()
    for _ in range(repeat):
        windows += acc.update(batch, now=0.0)
    update_us = (time.process_time() - start) / repeat * 1e6
    evaluate_ms = median_ms(lambda: evaluate(windows[0]), 20, time.process_time)
    return update_us, evaluate_ms


def main() -> None:
    ref, cur = make_frames(ROWS)
    ref_np, cur_np = ref.to_numpy(), cur.to_numpy()
    compare(ref, cur)  # warm imports and caches
    report_ms = median_ms(lambda: compare(ref, cur), 9)
    report_cpu_ms = median_ms(lambda: compare(ref, cur), 9, time.process_time)
    report_numpy_ms = median_ms(lambda: compare(ref_np, cur_np), 9)
    report = compare(ref, cur)
    html_ms = median_ms(lambda: render_html(report), 5)
    update_us, evaluate_ms = accumulator_cost(ref, cur)
    binned = binned_agreement(ref, cur)
    print(
        json.dumps(
            {
                "benchmark": "drift",
                "rows": ROWS,
                "features": FEATURES,
                "report_ms_dataframe": round(report_ms, 1),
                "report_cpu_ms_dataframe": round(report_cpu_ms, 1),
                "report_ms_numpy": round(report_numpy_ms, 1),
                "html_render_ms": round(html_ms, 1),
                "drifted_features": report.n_drifted,
                "update_cpu_us_64x20": round(update_us, 1),
                "evaluate_cpu_ms_1000_row_window": round(evaluate_ms, 2),
                "ks_pvalue_max_abs_diff_vs_scipy": ks_agreement(),
                "psi_max_rel_diff_same_bins": binned["psi"],
                "js_max_rel_diff_same_bins": binned["jensenshannon"],
                "wasserstein_max_rel_diff_vs_scipy": binned["wasserstein"],
            }
        )
    )


if __name__ == "__main__":
    main()
