"""Conversion and verification time per framework for small tabular models; one JSON line.

Each model is trained on synthetic data (2,000 rows x 20 features), then converted
`--repeats` times without verification and verified as often on 500 rows. The first
conversion of each framework is reported apart: it pays one-off imports and, for
PyTorch, the dynamo exporter's warm-up. Machines shared with other work are noisy:
compare the frameworks within one run, not runs across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

ROWS = 2000
FEATURES = 20


def models(x: np.ndarray, y: np.ndarray, target: np.ndarray) -> dict[str, Callable[[], Any]]:
    """Builders, so each framework is imported only when its turn comes."""

    def sklearn_pipeline() -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)

    def sklearn_forest() -> Any:
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=50, max_depth=8, n_jobs=1).fit(x, target)

    def xgboost_classifier() -> Any:
        import xgboost

        return xgboost.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1).fit(x, y)

    def lightgbm_classifier() -> Any:
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1, verbose=-1)
        return model.fit(x, y)

    def pytorch_mlp() -> Any:
        import torch

        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
        )

    return {
        "scikit-learn LogisticRegression pipeline": sklearn_pipeline,
        "scikit-learn RandomForestRegressor(50)": sklearn_forest,
        "xgboost XGBClassifier(100)": xgboost_classifier,
        "lightgbm LGBMClassifier(100)": lightgbm_classifier,
        "pytorch MLP 20-64-2": pytorch_mlp,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from modelfleet.convert import to_onnx

    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    score = x @ rng.normal(size=FEATURES)
    y = (score > 0).astype(np.int64)
    results: dict[str, dict[str, Any]] = {}
    for label, build in models(x, y, score * 3).items():
        model = build()
        sample = x[:500]
        start = time.perf_counter()
        converted = to_onnx(model, sample, verify=False)
        cold = time.perf_counter() - start
        convert_times, verify_times = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            converted = to_onnx(model, sample, verify=False)
            convert_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            converted.verify(sample)
            verify_times.append(time.perf_counter() - start)
        results[label] = {
            "converter": converted.converter,
            "first_convert_s": round(cold, 4),
            "convert_s_median": round(statistics.median(convert_times), 4),
            "verify_500_rows_s_median": round(statistics.median(verify_times), 4),
            "onnx_bytes": len(converted.onnx_bytes),
        }
    print(
        json.dumps(
            {
                "benchmark": "convert",
                "rows": ROWS,
                "features": FEATURES,
                "repeats": args.repeats,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
