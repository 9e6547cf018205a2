"""Conversion between serving state and modelfleet.v1 agent messages."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.agent.node.metrics import Histogram, ModelStats, quantile
from modelfleet.agent.node.models import ModelVersion
from modelfleet.agent.node.repository import Batching
from modelfleet.proto.v1 import agent_pb2 as pb


def model_status(mv: ModelVersion) -> pb.ModelStatus:
    status = pb.ModelStatus(
        name=mv.name,
        version=mv.version,
        state=mv.state.value,
        reason=mv.reason,
        sha256=mv.sha256,
        batching=pb.BatchingConfig(
            max_batch_size=mv.batching.max_batch_size,
            max_queue_delay_us=mv.batching.max_queue_delay_us,
        ),
    )
    if mv.loaded_at:
        status.loaded_at.FromNanoseconds(int(mv.loaded_at * 1e9))
    return status


def batching_from(message: pb.BatchingConfig) -> Batching:
    return Batching(message.max_batch_size, message.max_queue_delay_us)


def histogram(hist: Histogram) -> pb.Histogram:
    return pb.Histogram(
        bounds=hist.bounds, counts=hist.cumulative(), sum=hist.sum, count=hist.count
    )


def model_metrics(
    name: str, version: str, stats: ModelStats, previous: list[int], elapsed: float
) -> pb.ModelMetrics:
    """Snapshot of one version; quantiles and throughput cover the time since `previous`."""
    delta = [now - before for now, before in zip(stats.total.counts, previous, strict=True)]
    bounds = stats.total.bounds
    return pb.ModelMetrics(
        name=name,
        version=version,
        requests=stats.requests,
        in_flight=stats.in_flight,
        latency_total=histogram(stats.total),
        latency_queue=histogram(stats.queue),
        latency_compute=histogram(stats.compute),
        batch_size=histogram(stats.batch_size),
        p50=quantile(bounds, delta, 0.50),
        p95=quantile(bounds, delta, 0.95),
        p99=quantile(bounds, delta, 0.99),
        throughput=sum(delta) / elapsed if elapsed > 0 else 0.0,
    )


def timestamp_now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp
