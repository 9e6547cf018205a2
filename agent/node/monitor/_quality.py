"""Rolling prediction quality over the last N labelled rows, computed with numpy.

Classification: accuracy, precision, recall, F1 (binary 0/1 labels: of class 1, like
scikit-learn's default; otherwise macro averages over the classes seen) and ROC AUC (from the
class scores: binary, or macro one-vs-rest when every score column's class was seen).
Regression: MAE and RMSE.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

CLASSIFICATION = "classification"
REGRESSION = "regression"
DEFAULT_WINDOW = 1000


def task_of(prediction: np.ndarray) -> str:
    """Floating-point predictions are regression; integers, booleans and strings are classes."""
    return REGRESSION if prediction.dtype.kind in "fc" else CLASSIFICATION


class RollingQuality:
    """Labelled rows of one model version; only the newest `window` rows are scored."""

    def __init__(self, task: str, window: int = DEFAULT_WINDOW) -> None:
        self.task = task
        self.truth: deque[Any] = deque(maxlen=window)
        self.predicted: deque[Any] = deque(maxlen=window)
        self.scores: deque[npt.NDArray[np.float64] | None] = deque(maxlen=window)
        self.total = 0
        self._cached: dict[str, float] | None = None

    def add(self, truth: list[Any], predicted: np.ndarray, scores: np.ndarray | None) -> None:
        """Append the rows of one request (in feedback arrival order)."""
        self.truth.extend(truth)
        self.predicted.extend(predicted.tolist() if predicted.dtype.kind != "O" else predicted)
        if scores is None:
            self.scores.extend([None] * len(truth))
        else:
            self.scores.extend(np.asarray(scores, dtype=np.float64).reshape(len(truth), -1))
        self.total += len(truth)
        self._cached = None

    @property
    def labelled(self) -> int:
        return len(self.truth)

    def metrics(self) -> dict[str, float]:
        """The current figures; cached until the next label arrives."""
        if self._cached is None:
            if not self.truth:
                self._cached = {}
            elif self.task == REGRESSION:
                self._cached = regression_metrics(
                    np.asarray(self.truth, dtype=np.float64),
                    np.asarray(self.predicted, dtype=np.float64),
                )
            else:
                self._cached = classification_metrics(
                    _labels(self.truth), _labels(self.predicted), _score_matrix(self.scores)
                )
        return self._cached


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - truth
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error * error).mean()))}


def classification_metrics(
    truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray | None
) -> dict[str, float]:
    classes, codes = np.unique(np.concatenate([truth, predicted]), return_inverse=True)
    t, p = codes[: len(truth)], codes[len(truth) :]
    k = len(classes)
    # Confusion counts per class in three bincounts.
    tp = np.bincount(t[t == p], minlength=k).astype(np.float64)
    actual = np.bincount(t, minlength=k).astype(np.float64)
    chosen = np.bincount(p, minlength=k).astype(np.float64)
    precision = np.divide(tp, chosen, out=np.zeros(k), where=chosen > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    denominator = actual + chosen
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    out = {"accuracy": float((t == p).mean())}
    binary = classes.dtype.kind in "iub" and set(classes.tolist()) <= {0, 1}
    if binary:
        # Class 1 is the positive class; when it never occurs, sklearn reports 0.
        positive = int(np.searchsorted(classes, 1))
        if positive < k and classes[positive] == 1:
            figures = (precision[positive], recall[positive], f1[positive])
        else:
            figures = (0.0, 0.0, 0.0)
        out.update(precision=float(figures[0]), recall=float(figures[1]), f1=float(figures[2]))
    else:
        out.update(
            precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean())
        )
    auc = _auc(truth, scores)
    if auc is not None:
        out["auc"] = auc
    return out


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Mann-Whitney AUC with tied scores sharing their average rank; None without both classes."""
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _auc(truth: np.ndarray, scores: np.ndarray | None) -> float | None:
    """Class c's score is column c, so labels must be the integers 0..k-1."""
    if scores is None or truth.dtype.kind not in "iub":
        return None
    columns = scores.shape[1]
    seen = np.unique(truth)
    if columns == 1 or (columns == 2 and set(seen.tolist()) <= {0, 1}):
        return roc_auc(truth == 1, scores[:, -1])
    if seen.shape[0] != columns or not np.array_equal(seen, np.arange(columns)):
        return None
    values = [roc_auc(truth == c, scores[:, c]) for c in range(columns)]
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if len(kept) == columns else None


def _labels(values: deque[Any]) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "fc" and np.all(np.mod(array, 1) == 0):
        return array.astype(np.int64)
    return array if array.dtype.kind in "iub" else array.astype(str)


def _score_matrix(scores: deque[npt.NDArray[np.float64] | None]) -> np.ndarray | None:
    if not scores or any(s is None for s in scores):
        return None
    return np.stack(scores)  # type: ignore[arg-type]
