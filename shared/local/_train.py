"""The Quick Start's training: a scikit-learn fraud classifier, logged epoch by epoch as a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelfleet.local._fraud import FEATURES, Float32s, transactions
from modelfleet.sdk import ActiveRun

EXPERIMENT = "quickstart-card-fraud"
TRAIN_ROWS = 20_000
VALIDATION_ROWS = 5_000
EPOCHS = 12
BATCH_ROWS = 1_000


PARAMS = {
    "model": "SGDClassifier(log_loss)",
    "alpha": 1e-4,
    "epochs": EPOCHS,
    "batch_rows": BATCH_ROWS,
    "train_rows": TRAIN_ROWS,
    "features": len(FEATURES),
}
TAGS = {"source": "quickstart", "dataset": "synthetic card transactions"}


@dataclass(frozen=True)
class TrainedModel:
    """The fitted pipeline, the data it saw, and its last validation metrics."""

    pipeline: Any
    x_train: Float32s
    x_validation: Float32s
    metrics: dict[str, float]


def train(
    run: ActiveRun, seed: int = 0, cancelled: Callable[[], bool] = lambda: False
) -> TrainedModel:
    """StandardScaler + logistic SGD, `EPOCHS` passes of mini-batches, logged into `run`.

    Per step: the batch's log loss; per epoch: validation loss, accuracy, precision,
    recall and ROC AUC.
    """
    # Imported here: scikit-learn is the `ml` extra and slow to import.
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import (
        accuracy_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    x_train, y_train = transactions(TRAIN_ROWS, rng)
    x_val, y_val = transactions(VALIDATION_ROWS, rng)
    scaler = StandardScaler().fit(x_train)
    scaled, scaled_val = scaler.transform(x_train), scaler.transform(x_val)
    classifier = SGDClassifier(loss="log_loss", alpha=PARAMS["alpha"], random_state=seed)
    classes = np.array([0, 1])
    metrics: dict[str, float] = {}
    step = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(scaled))
        for start in range(0, len(order), BATCH_ROWS):
            rows = order[start : start + BATCH_ROWS]
            classifier.partial_fit(scaled[rows], y_train[rows], classes=classes)
            batch_proba = classifier.predict_proba(scaled[rows])[:, 1]
            loss = log_loss(y_train[rows], batch_proba, labels=classes)
            run.log_metric("batch_loss", loss, step)
            step += 1
        if cancelled():
            raise InterruptedError("Quick Start cancelled during training")
        proba = classifier.predict_proba(scaled_val)[:, 1]
        predicted = (proba >= 0.5).astype(np.int64)
        metrics = {
            "val_loss": float(log_loss(y_val, proba, labels=classes)),
            "val_accuracy": float(accuracy_score(y_val, predicted)),
            "val_precision": float(precision_score(y_val, predicted, zero_division=0)),
            "val_recall": float(recall_score(y_val, predicted, zero_division=0)),
            "val_auc": float(roc_auc_score(y_val, proba)),
        }
        run.log_metrics(metrics, step=epoch)
    pipeline = Pipeline([("scale", scaler), ("classify", classifier)])
    return TrainedModel(pipeline, x_train, x_val, metrics)
