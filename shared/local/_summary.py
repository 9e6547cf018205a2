"""A deployment's live figures from the agent's `Metrics.WatchMetrics` stream, as one line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from modelfleet.proto.v1 import agent_pb2, agent_pb2_grpc

# A stream call is re-opened after this long so that no call runs without a deadline.
STREAM_SEGMENT_S = 300.0


@dataclass(frozen=True, slots=True)
class LiveSummary:
    """One snapshot of a deployment: throughput (req/s), p95 latency (ms), errors since the
    agent started, and the drifted share of features in the last closed window (None
    while no window has closed or the version has no reference profile)."""

    requests_per_s: float
    p95_ms: float
    requests_total: int
    errors_total: int
    drift_share: float | None
    accuracy: float | None

    def line(self) -> str:
        drift = "n/a" if self.drift_share is None else f"{self.drift_share:.0%}"
        accuracy = "" if self.accuracy is None else f"  accuracy {self.accuracy:.3f}"
        return (
            f"{self.requests_per_s:7.1f} req/s  p95 {self.p95_ms:6.2f} ms  "
            f"errors {self.errors_total}/{self.requests_total}  drift {drift}{accuracy}"
        )


def summarise(snapshot: agent_pb2.MetricsSnapshot, deployment: str) -> LiveSummary:
    """Figures of every version of `deployment` in one snapshot, added up (p95: the worst)."""
    models = [m for m in snapshot.models if m.name == deployment]
    drift = [_drift_share(m) for m in models]
    known = [d for d in drift if d is not None]
    accuracy = [_accuracy(m) for m in models]
    measured = [a for a in accuracy if a is not None]
    return LiveSummary(
        requests_per_s=sum(m.throughput for m in models),
        p95_ms=max((m.p95 for m in models), default=0.0) * 1000.0,
        requests_total=sum(sum(m.requests.values()) for m in models),
        errors_total=sum(n for m in models for status, n in m.requests.items() if status != "ok"),
        drift_share=max(known) if known else None,
        accuracy=min(measured) if measured else None,
    )


def _drift_share(m: agent_pb2.ModelMetrics) -> float | None:
    # getattr: agents built before live drift carry no drift status at all.
    drift = getattr(m, "drift", None)
    if drift is None or not drift.enabled or not drift.windows_closed:
        return None
    return float(drift.share_drifted)


def _accuracy(m: agent_pb2.ModelMetrics) -> float | None:
    status = getattr(m, "accuracy", None)
    if status is None or not status.labelled or "accuracy" not in status.metrics:
        return None
    return float(status.metrics["accuracy"])


def watch(
    grpc_target: str,
    token_file: Path,
    deployment: str,
    stop: threading.Event,
    interval_ms: int = 1000,
) -> Iterator[LiveSummary]:
    """Summaries every `interval_ms` until `stop` is set (grpc.RpcError if the agent fails)."""
    token = token_file.read_text(encoding="utf-8").strip()
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(grpc_target) as channel:
        stub = agent_pb2_grpc.MetricsStub(channel)
        while not stop.is_set():
            call = stub.WatchMetrics(
                agent_pb2.WatchMetricsRequest(interval_ms=interval_ms, models=[deployment]),
                timeout=STREAM_SEGMENT_S,
                metadata=metadata,
            )
            stop_listener = threading.Thread(
                target=lambda c=call: (stop.wait(), c.cancel()), daemon=True
            )
            stop_listener.start()
            try:
                for index, snapshot in enumerate(call):
                    # A call's first snapshot has no previous one to measure rates from.
                    if index:
                        yield summarise(snapshot, deployment)
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                    raise
