"""Agreement and speed against Evidently 0.7's DataDriftPreset (optional; prints one JSON line).

Evidently is not a project dependency. Run this with an interpreter that has both evidently
(0.7.x) and modelfleet installed, e.g. a throwaway virtual environment:

    python -m venv /tmp/ev && /tmp/ev/bin/pip install evidently==0.7.23 'pandas<2.3'
    /tmp/ev/bin/pip install --no-deps -e . && /tmp/ev/bin/python benchmarks/drift_vs_evidently.py
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drift import make_frames

from modelfleet.drift import compare

METHOD_NAMES = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "PSI": "psi",
}


def evidently_scores(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[dict[str, Any], float]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    elapsed = (time.perf_counter() - start) * 1e3
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[config["column"]] = (
                METHOD_NAMES.get(config["method"], config["method"]),
                float(metric["value"]),
                float(config["threshold"]),
            )
    return scores, elapsed


def datasets() -> dict[str, Callable[[], tuple[pd.DataFrame, pd.DataFrame]]]:
    rng = np.random.default_rng(42)

    def small() -> tuple[pd.DataFrame, pd.DataFrame]:
        def draw(n: int, shift: float) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "x": rng.normal(shift, 1, n),
                    "y": rng.exponential(1 + shift, n),
                    "level": rng.integers(0, 4, n).astype(float),
                    "flag": rng.integers(0, 2, n).astype(float),
                    "plan": rng.choice(
                        ["a", "b", "c"], n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]
                    ),
                }
            )

        return draw(800, 0.0), draw(600, 0.3)

    def categorical() -> tuple[pd.DataFrame, pd.DataFrame]:
        ref = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(30)], 20_000)})
        cur = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(5, 35)], 10_000)})
        return ref.assign(n=rng.normal(size=20_000)), cur.assign(n=rng.normal(size=10_000))

    def heavy() -> tuple[pd.DataFrame, pd.DataFrame]:
        ref = pd.DataFrame({f"t{i}": rng.standard_t(2 + i, 50_000) for i in range(5)})
        cur = pd.DataFrame({f"t{i}": rng.standard_t(2 + i, 50_000) + 0.05 * i for i in range(5)})
        return ref, cur

    return {
        "mixed_100k_x_20": lambda: make_frames(100_000),
        "small_reference_800": small,
        "categorical_unseen_20k": categorical,
        "heavy_tails_50k": heavy,
    }


def main() -> None:
    import evidently

    results = []
    for name, make in datasets().items():
        ref, cur = make()
        ev, ev_ms = evidently_scores(ref, cur)
        start = time.perf_counter()
        ours = compare(ref, cur)
        ours_ms = (time.perf_counter() - start) * 1e3
        same_method = same_verdict = 0
        worst_abs = worst_rel = 0.0
        for feature in ours.features:
            method, value, threshold = ev[feature.name]
            same_method += method == feature.method
            drifted = (
                value <= threshold if method in ("ks", "chisquare", "z") else value >= threshold
            )
            same_verdict += drifted == feature.drifted
            diff = abs(float(feature.statistic or 0.0) - value)
            worst_abs = max(worst_abs, diff)
            if method == feature.method and method not in ("ks", "chisquare", "z"):
                worst_rel = max(worst_rel, diff / max(abs(value), 1e-12))
        results.append(
            {
                "dataset": name,
                "rows": [len(ref), len(cur)],
                "columns": len(ours.features),
                "evidently_ms": round(ev_ms, 1),
                "modelfleet_ms": round(ours_ms, 1),
                "speedup": round(ev_ms / ours_ms, 1),
                "same_method": same_method,
                "same_verdict": same_verdict,
                "max_abs_diff": worst_abs,
                "max_rel_diff_distances": worst_rel,
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "drift_vs_evidently",
                "evidently": evidently.__version__,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
