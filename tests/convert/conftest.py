"""Small synthetic tabular data sets shared by the conversion tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

ROWS = 400
FEATURES = 6


@dataclass(frozen=True)
class Tabular:
    x: NDArray[np.float64]
    binary: NDArray[np.int64]
    multiclass: NDArray[np.int64]
    target: NDArray[np.float64]

    @property
    def sample(self) -> NDArray[np.float64]:
        return self.x[:200]


@pytest.fixture(scope="session")
def tabular() -> Tabular:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, FEATURES))
    score = x @ rng.normal(size=FEATURES) + rng.normal(scale=0.3, size=ROWS)
    binary = (score > 0).astype(np.int64)
    multiclass = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
    target = score * 10 + x[:, 0] ** 2
    return Tabular(x, binary, multiclass, target)
