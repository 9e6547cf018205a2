"""Track a training run and register its scikit-learn model, as a notebook would.

    python examples/notebook_quickstart.py              # version 1 of `churn`
    python examples/notebook_quickstart.py --C 0.05     # another run, the next version

Uses the login of `modelfleet login` and the workspace of `modelfleet workspaces use`, or
MODELFLEET_HUB, MODELFLEET_HUB_CA, MODELFLEET_API_KEY and MODELFLEET_WORKSPACE.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelfleet

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age"]


def customers(rows: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Synthetic customers, one column per FEATURES entry. `shift` moves the monthly
    charges and support calls upwards (in standard deviations) to simulate drifted traffic."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.gamma(2.0, 12.0, rows),  # tenure_months, mean 24, sd 17
            rng.normal(70.0 + 25.0 * shift, 25.0, rows),  # monthly_charges
            rng.poisson(1.5 + 2.0 * shift, rows).astype(float),  # support_calls
            rng.normal(45.0, 14.0, rows),  # age
        ]
    ).astype(np.float32)


def churned(x: np.ndarray, seed: int) -> np.ndarray:
    """Labels: short tenure, high charges and many support calls make churn likely."""
    rng = np.random.default_rng(seed)
    logit = -0.06 * x[:, 0] + 0.03 * (x[:, 1] - 70.0) + 0.6 * (x[:, 2] - 1.5) - 0.5
    return (rng.random(len(x)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="churn", help="registered model name")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--alias", action="append", default=[], help="alias for the version")
    args = parser.parse_args()

    x = customers(5000, seed=0)
    y = churned(x, seed=1)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)

    modelfleet.connect()  # the saved login, or MODELFLEET_* variables
    with modelfleet.start_run(experiment=args.model, params={"C": args.C}) as run:
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=args.C, max_iter=1, warm_start=True)
        )
        for epoch in range(10):
            # One solver iteration per "epoch" (warm start), so the curves have a shape.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x_train, y_train)
            run.log_metric("train_accuracy", model.score(x_train, y_train), step=epoch)
            run.log_metric("test_accuracy", model.score(x_test, y_test), step=epoch)
        version = modelfleet.log_model(
            model,
            args.model,
            sample_input=x_test[:100],
            reference_data=x_train,  # becomes the reference profile for drift monitoring
            feature_names=FEATURES,
            alias=args.alias,
        )
    print(f"run {run.id}: registered {version.model_name} version {version.version}")


if __name__ == "__main__":
    main()
