"""Metric roll-ups: every window (10 s), per deployment version, the deltas of its counters."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelfleet.agent.node.metrics import LATENCY_BOUNDS, MetricsRegistry, ModelStats, quantile
from modelfleet.agent.node.state import Outbox, Rollup

log = logging.getLogger(__name__)
DEFAULT_WINDOW_S = 10

#: the model behind a deployment version, or None for names that are not deployments
ModelOf = Callable[[str, str], str | None]
#: extra series of a deployment version (drift, accuracy) for the roll-up's `extra` map
ExtraOf = Callable[[str, str], Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    requests: int
    ok: int
    latency_counts: tuple[int, ...]
    latency_sum: float
    batches: int
    batch_rows: float

    @classmethod
    def of(cls, stats: ModelStats) -> _Snapshot:
        return cls(
            sum(stats.requests.values()),
            stats.requests.get("ok", 0),
            tuple(stats.total.counts),
            stats.total.sum,
            stats.batch_size.count,
            stats.batch_size.sum,
        )


_ZERO = _Snapshot(0, 0, (0,) * (len(LATENCY_BOUNDS) + 1), 0.0, 0, 0.0)


class RollupCollector:
    """Turns the serving counters into roll-ups in the outbox (latencies in seconds)."""

    def __init__(
        self,
        metrics: MetricsRegistry,
        model_of: ModelOf,
        outbox: Outbox,
        window_s: int = DEFAULT_WINDOW_S,
        extra_of: ExtraOf | None = None,
    ) -> None:
        self.metrics = metrics
        self.extra_of = extra_of
        self.model_of = model_of
        self.outbox = outbox
        self.window_s = window_s
        self._previous: dict[tuple[str, str], _Snapshot] = {}

    async def run(self) -> None:
        """Close a window at every multiple of `window_s` (wall clock), until cancelled."""
        while True:
            now = time.time()
            end = (now // self.window_s + 1) * self.window_s
            await asyncio.sleep(end - now)
            start = dt.datetime.fromtimestamp(end - self.window_s, dt.UTC)
            await self.outbox.rollups(self.collect(start))

    def collect(self, window_start: dt.datetime) -> list[Rollup]:
        """Roll-ups of every deployment version that served since the previous call."""
        rollups = []
        for (name, version), stats in list(self.metrics.models.items()):
            model = self.model_of(name, version)
            if model is None:
                continue
            current = _Snapshot.of(stats)
            before = self._previous.get((name, version), _ZERO)
            self._previous[(name, version)] = current
            requests = current.requests - before.requests
            if requests <= 0:
                continue
            counts = [
                a - b for a, b in zip(current.latency_counts, before.latency_counts, strict=True)
            ]
            batches = current.batches - before.batches
            rollups.append(
                Rollup(
                    deployment=name,
                    model_name=model,
                    model_version=int(version),
                    window_start=window_start,
                    window_seconds=self.window_s,
                    requests=requests,
                    errors=requests - (current.ok - before.ok),
                    latency_p50=quantile(LATENCY_BOUNDS, counts, 0.50),
                    latency_p95=quantile(LATENCY_BOUNDS, counts, 0.95),
                    latency_p99=quantile(LATENCY_BOUNDS, counts, 0.99),
                    latency_mean=(current.latency_sum - before.latency_sum) / requests,
                    batch_size_mean=(
                        (current.batch_rows - before.batch_rows) / batches if batches else 1.0
                    ),
                    extra=self.extra_of(name, version) if self.extra_of is not None else {},
                )
            )
        return rollups
