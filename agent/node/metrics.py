"""Per model-version serving metrics: plain counters updated on the event loop, exported late.

Every update happens on the event loop thread, so plain ints and lists need no lock; the
Prometheus collector and WatchMetrics read them at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

LATENCY_BOUNDS: tuple[float, ...] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BOUNDS: tuple[float, ...] = tuple(float(2**i) for i in range(13))


class Histogram:
    """Fixed buckets; `counts` are per bucket (not cumulative), the last one is +Inf."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def observe_many(self, value: float, times: int) -> None:
        """`times` observations of the same value (every request of one batch)."""
        self.counts[bisect_left(self.bounds, value)] += times
        self.sum += value * times
        self.count += times

    def cumulative(self) -> list[int]:
        total, out = 0, []
        for c in self.counts:
            total += c
            out.append(total)
        return out


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float:
    """Estimate a quantile from per-bucket counts, interpolating linearly inside a bucket."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = bounds[index - 1] if index > 0 else 0.0
            high = bounds[index] if index < len(bounds) else bounds[-1]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return bounds[-1]


class ModelStats:
    """Counters of one model version."""

    __slots__ = ("batch_size", "compute", "in_flight", "queue", "requests", "total")

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.in_flight = 0
        self.total = Histogram(LATENCY_BOUNDS)
        self.queue = Histogram(LATENCY_BOUNDS)
        self.compute = Histogram(LATENCY_BOUNDS)
        self.batch_size = Histogram(BATCH_BOUNDS)

    def finish(self, status: str, seconds: float) -> None:
        self.requests[status] = self.requests.get(status, 0) + 1
        self.total.observe(seconds)


class MetricsRegistry(Collector):
    """All ModelStats by (model, version), plus agent-level rejections; a Prometheus collector."""

    def __init__(self) -> None:
        self.models: dict[tuple[str, str], ModelStats] = {}
        #: requests rejected before a model version was chosen, by status
        self.rejected: dict[str, int] = {}

    def stats_for(self, name: str, version: str) -> ModelStats:
        key = (name, version)
        stats = self.models.get(key)
        if stats is None:
            stats = self.models[key] = ModelStats()
        return stats

    def reject(self, status: str) -> None:
        self.rejected[status] = self.rejected.get(status, 0) + 1

    def collect(self) -> Iterator[Metric]:
        labels = ["model", "version"]
        requests = CounterMetricFamily(
            "modelfleet_requests", "Finished inference requests", labels=[*labels, "status"]
        )
        in_flight = GaugeMetricFamily("modelfleet_in_flight", "Requests in progress", labels=labels)
        families = {
            "total": HistogramMetricFamily(
                "modelfleet_request_duration_seconds", "Request latency", labels=labels
            ),
            "queue": HistogramMetricFamily(
                "modelfleet_queue_duration_seconds", "Time queued for a batch", labels=labels
            ),
            "compute": HistogramMetricFamily(
                "modelfleet_compute_duration_seconds", "Model run time of the batch", labels=labels
            ),
            "batch_size": HistogramMetricFamily(
                "modelfleet_batch_size", "Rows per model run", labels=labels
            ),
        }
        for (name, version), stats in sorted(self.models.items()):
            for status, count in sorted(stats.requests.items()):
                requests.add_metric([name, version, status], count)
            in_flight.add_metric([name, version], stats.in_flight)
            for attr, family in families.items():
                hist: Histogram = getattr(stats, attr)
                buckets = [
                    (_le(b), c) for b, c in zip(hist.bounds, hist.cumulative(), strict=False)
                ]
                buckets.append(("+Inf", hist.count))
                family.add_metric([name, version], buckets, hist.sum)
        rejected = CounterMetricFamily(
            "modelfleet_rejected_requests",
            "Requests rejected before reaching a model version",
            labels=["status"],
        )
        for status, count in sorted(self.rejected.items()):
            rejected.add_metric([status], count)
        yield from (requests, in_flight, *families.values(), rejected)


def _le(bound: float) -> str:
    return repr(bound)
