"""Local metric event generators standing in for agents where a test needs many streams."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.metrics import (
    MetricsSeries,
    MetricsSnapshot,
    ModelMetrics,
    StreamConnected,
    WatchEvent,
)


def metrics(model: str, n: int, version: str = "1", errors: int = 0) -> ModelMetrics:
    """Plausible figures for the n-th snapshot of a model."""
    return ModelMetrics(
        model=model,
        version=version,
        throughput=100.0 + 10 * np.sin(n / 10),
        p50=0.002 + 0.0002 * (n % 5),
        p95=0.004 + 0.0004 * (n % 7),
        p99=0.008 + 0.001 * (n % 3),
        requests_total=100 * n,
        errors_total=errors,
        in_flight=n % 4,
    )


def simulated_agent(name: str, models: int = 1, hz: float = 10.0):
    """A stream function (for `MonitoringViewModel.add_stream`) pushing `hz` snapshots/s."""

    def watch(token: CancelToken) -> Iterator[WatchEvent]:
        yield StreamConnected(name)
        n = 0
        start = time.monotonic()
        while True:
            n += 1
            token.wait(max(0.0, start + n / hz - time.monotonic()))
            yield MetricsSnapshot(
                name,
                time.time(),
                "sim",
                tuple(metrics(f"model-{i}", n, errors=n // 10) for i in range(models)),
            )

    return watch


def history(agent: str, model: str, points: int, end: float) -> MetricsSeries:
    """`points` stored samples at 10 Hz ending at `end`, as the hub's history would return."""
    t = end - np.arange(points, 0, -1, dtype=np.float64) / 10.0
    wave = np.sin(np.arange(points) / 500.0)
    return MetricsSeries(
        agent=agent,
        model=model,
        version="1",
        time=t,
        throughput=100 + 20 * wave,
        p50_ms=2 + wave,
        p95_ms=4 + 2 * wave,
        p99_ms=8 + 3 * wave,
        errors=np.zeros(points),
    )
