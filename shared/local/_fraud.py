"""The Quick Start's sample data: synthetic card transactions with a ~5% fraud rate.

`transactions(n, rng, drift=0)` draws rows from one fixed generating process; `drift`
(0..1) moves six of the ten features the way a new merchant mix would (bigger amounts,
more online and night-time purchases, farther from home), so a drift monitor has
something real to find while the labels keep following the same rule.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FEATURES = (
    "amount",
    "hour",
    "distance_from_home_km",
    "distance_from_last_km",
    "ratio_to_median_amount",
    "online",
    "chip_used",
    "pin_used",
    "merchant_risk",
    "transactions_24h",
)
# Fraud log-odds: intercept, then one weight per standardised feature.
_INTERCEPT = -5.9
_WEIGHTS = np.array([0.9, 0.35, 0.8, 0.6, 1.1, 0.7, -0.6, -0.9, 1.0, 0.5])

Float32s = npt.NDArray[np.float32]
Int64s = npt.NDArray[np.int64]


def transactions(n: int, rng: np.random.Generator, drift: float = 0.0) -> tuple[Float32s, Int64s]:
    """(features float32 [n, 10], is_fraud int64 [n])."""
    d = float(np.clip(drift, 0.0, 1.0))
    amount = rng.lognormal(3.6 + 0.9 * d, 0.9, n)
    night = rng.random(n) < 0.15 + 0.35 * d
    hour = np.where(night, rng.integers(0, 6, n), rng.integers(6, 24, n)).astype(np.float64)
    home = rng.lognormal(2.0 + 1.2 * d, 1.0, n)
    last = rng.lognormal(1.0 + 0.8 * d, 1.1, n)
    ratio = amount / np.exp(3.6) * rng.lognormal(0.0, 0.3, n)
    online = (rng.random(n) < 0.35 + 0.4 * d).astype(np.float64)
    chip = (rng.random(n) < 0.7 * (1 - online)).astype(np.float64)
    pin = (rng.random(n) < 0.5 * chip).astype(np.float64)
    risk = rng.beta(2.0, 8.0, n)
    recent = rng.poisson(3.0, n).astype(np.float64)
    x = np.column_stack([amount, hour, home, last, ratio, online, chip, pin, risk, recent])
    # The label rule is fixed (on the undrifted scale): drift changes inputs, not the concept.
    z = np.column_stack(
        [
            (np.log(amount) - 3.6) / 0.9,
            (night.astype(np.float64) - 0.15) / 0.36,
            (np.log(home) - 2.0) / 1.0,
            (np.log(last) - 1.0) / 1.1,
            (np.log(ratio) - 0.0) / 0.95,
            (online - 0.35) / 0.48,
            (chip - 0.45) / 0.5,
            (pin - 0.22) / 0.42,
            (risk - 0.2) / 0.12,
            (recent - 3.0) / 1.73,
        ]
    )
    logits = _INTERCEPT + z @ _WEIGHTS
    fraud = rng.random(n) < 1.0 / (1.0 + np.exp(-logits))
    return x.astype(np.float32), fraud.astype(np.int64)
