"""The bundled sample model: a scikit-learn credit-risk pipeline converted to ONNX."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import orjson

FEATURE_COUNT = 20


def write_sample_model(
    models_dir: Path,
    name: str = "credit-risk",
    version: int = 1,
    n_features: int = FEATURE_COUNT,
    seed: int = 0,
) -> Path:
    """Train StandardScaler + LogisticRegression on synthetic data and write it as ONNX.

    Writes `<models_dir>/<name>/<version>/model.onnx` and `modelfleet.json` (feature names
    f00..f{n-1}); returns the version folder. Input "input" FP32 [-1, n_features]; outputs
    "label" INT64 [-1] and "probabilities" FP32 [-1, 2].
    """
    # Imported here: training tools are an optional extra and slow to import.
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, n_features)).astype(np.float32)
    weights = rng.normal(size=n_features)
    y = (x @ weights + rng.normal(scale=0.5, size=len(x)) > 0).astype(np.int64)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(x, y)

    onx = to_onnx(
        pipeline,
        x[:1],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset=17,
    )
    # skl2onnx names the input "X" and the outputs after the estimator; the contract fixes them.
    rename = {onx.graph.input[0].name: "input", "output_label": "label"}
    rename["output_probability"] = "probabilities"
    for node in onx.graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for value in [*onx.graph.input, *onx.graph.output]:
        value.name = rename.get(value.name, value.name)

    version_dir = models_dir / name / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "feature_names": [f"f{i:02d}" for i in range(n_features)],
        "batching": {"max_batch_size": 64, "max_queue_delay_us": 0},
        "metadata": {"description": "synthetic credit-risk classifier", "seed": seed},
    }
    _write_atomically(version_dir / "model.onnx", onx.SerializeToString())
    _write_atomically(
        version_dir / "modelfleet.json", orjson.dumps(config, option=orjson.OPT_INDENT_2)
    )
    return version_dir


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
