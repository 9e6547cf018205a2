"""A monitored model folder: the sample model with a reference profile beside model.onnx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

from modelfleet.agent.node.sample import FEATURE_COUNT, write_sample_model
from modelfleet.profile import compute_profile

MODEL = "credit-risk"
NAMES = [f"f{i:02d}" for i in range(FEATURE_COUNT)]
WINDOW_ROWS = 1000


def reference_rows(n: int, seed: int, shift: float = 0.0, shifted: int = 0) -> np.ndarray:
    """Rows like the sample model's training data (standard normal); the first `shifted`
    features moved by `shift` standard deviations."""
    x = np.random.default_rng(seed).normal(size=(n, FEATURE_COUNT)).astype(np.float32)
    x[:, :shifted] += np.float32(shift)
    return x


def profile_document(
    model_file: Path, rows: np.ndarray, predictions: bool = True
) -> dict[str, Any]:
    """Profile of the inputs plus (by default) the model's predictions on them as extra
    columns. The registry takes input features only."""
    columns: dict[str, Any] = {name: rows[:, i] for i, name in enumerate(NAMES)}
    if predictions:
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        label, probabilities = session.run(["label", "probabilities"], {"input": rows})
        columns["label"] = label
        columns["probabilities_1"] = probabilities[:, 1]
    return compute_profile(columns).to_dict()


def write_monitored_model(root: Path, drift: dict[str, Any] | None = None) -> Path:
    """`root/credit-risk/1/` with reference_profile.json and a `monitoring` block."""
    version_dir = write_sample_model(root, MODEL)
    document = profile_document(version_dir / "model.onnx", reference_rows(5000, seed=7))
    (version_dir / "reference_profile.json").write_bytes(orjson.dumps(document))
    config_path = version_dir / "modelfleet.json"
    config = orjson.loads(config_path.read_bytes())
    config["monitoring"] = {"drift": drift or {"window_rows": WINDOW_ROWS}}
    config_path.write_bytes(orjson.dumps(config))
    return root
