"""Fixtures for the ONNX inspection tests: a real skl2onnx classifier."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def iris_zipmap_model() -> bytes:
    """A real skl2onnx classifier with its default ZipMap output (a sequence of maps)."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=300).fit(x.astype(np.float32), y)
    return to_onnx(clf, x[:1].astype(np.float32), target_opset=15).SerializeToString()
