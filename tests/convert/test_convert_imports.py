"""Converting never imports a framework the model does not come from."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import numpy as np
import modelfleet.convert
heavy = ("torch", "xgboost", "lightgbm", "sklearn", "skl2onnx", "onnxmltools", "pandas")
after_import = [m for m in heavy if m in sys.modules]
from sklearn.linear_model import LogisticRegression
x = np.random.default_rng(0).normal(size=(50, 3))
modelfleet.convert.to_onnx(LogisticRegression().fit(x, x[:, 0] > 0), x)
print(json.dumps({"after_import": after_import,
                  "after_sklearn": [m for m in heavy if m in sys.modules]}))
"""


def test_only_the_models_own_framework_is_imported():
    # A fresh interpreter: this test process has every framework loaded already.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["after_import"] == []
    # skl2onnx brings pandas along itself; the other frameworks must stay out.
    assert {"sklearn", "skl2onnx"} <= set(loaded["after_sklearn"])
    assert not {"torch", "xgboost", "lightgbm", "onnxmltools"} & set(loaded["after_sklearn"])
