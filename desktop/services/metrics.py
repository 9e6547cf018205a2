"""Live serving metrics from agents' `modelfleet.v1.Metrics.WatchMetrics` streams, as dataclasses.

The stream reconnects by itself with backoff and reports that as events, so a caller sees
one endless iterator of `StreamConnected`, `MetricsSnapshot` and `StreamLost` until it
cancels the token. History for the same series will come from the hub as `MetricsSeries`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import numpy.typing as npt

from modelfleet.client import ConfigurationError, DeadlineExceeded, ModelfleetError
from modelfleet.client._errors import map_rpc_errors
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.proto.v1 import agent_pb2, agent_pb2_grpc

CONNECT_TIMEOUT_S = 5.0
# A stream call is re-opened after this long so that no call runs without a deadline.
STREAM_SEGMENT_S = 300.0
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 8.0
_SEGMENT_END = grpc.StatusCode.DEADLINE_EXCEEDED
_KEEPALIVE = [("grpc.keepalive_time_ms", 20_000), ("grpc.keepalive_timeout_ms", 5_000)]


@dataclass(frozen=True)
class AgentEndpoint:
    """Where an agent's gRPC port is and which file holds its control token."""

    address: str
    token_file: Path

    @property
    def label(self) -> str:
        return self.address


@dataclass(frozen=True)
class ModelMetrics:
    """One model version's figures in one snapshot (latencies in seconds)."""

    model: str
    version: str
    throughput: float
    p50: float
    p95: float
    p99: float
    requests_total: int
    errors_total: int
    in_flight: int


@dataclass(frozen=True)
class MetricsSnapshot:
    """What one agent reported at `time` (Unix seconds)."""

    agent: str
    time: float
    agent_version: str
    models: tuple[ModelMetrics, ...]


@dataclass(frozen=True)
class StreamConnected:
    agent: str


@dataclass(frozen=True)
class StreamLost:
    """The stream broke; the client tries again after `retry_in_s`."""

    agent: str
    message: str
    retry_in_s: float


WatchEvent = MetricsSnapshot | StreamConnected | StreamLost

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MetricsSeries:
    """A stored range of one series, column arrays of equal length sorted by time.

    Latencies in milliseconds, errors per sample interval.
    """

    agent: str
    model: str
    version: str
    time: FloatArray
    throughput: FloatArray
    p50_ms: FloatArray
    p95_ms: FloatArray
    p99_ms: FloatArray
    errors: FloatArray


def read_token(path: Path) -> str:
    """The control token in `path`, stripped; `ConfigurationError` naming the file otherwise."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read control token file {path}: {exc.strerror}") from exc
    if not token:
        raise ConfigurationError(f"control token file {path} is empty")
    return token


def snapshot_from_wire(agent: str, message: agent_pb2.MetricsSnapshot) -> MetricsSnapshot:
    models = tuple(
        ModelMetrics(
            model=m.name,
            version=m.version,
            throughput=m.throughput,
            p50=m.p50,
            p95=m.p95,
            p99=m.p99,
            requests_total=sum(m.requests.values()),
            errors_total=sum(n for status, n in m.requests.items() if status != "ok"),
            in_flight=m.in_flight,
        )
        for m in message.models
    )
    return MetricsSnapshot(agent, message.time.ToSeconds(), message.agent_version, models)


class AgentMetricsClient:
    """Watches one agent's metrics; `watch` runs on a worker thread until cancelled."""

    def __init__(self, endpoint: AgentEndpoint, connect_timeout_s: float = CONNECT_TIMEOUT_S):
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s

    def watch(
        self, cancel: CancelToken, interval_ms: int = 1000, models: Sequence[str] = ()
    ) -> Iterator[WatchEvent]:
        """Yield events forever, reconnecting with exponential backoff; stop via `cancel`."""
        delay = RETRY_INITIAL_S
        while True:
            cancel.raise_if_cancelled()
            try:
                for event in self._watch_segment(cancel, interval_ms, models):
                    if isinstance(event, StreamConnected):
                        delay = RETRY_INITIAL_S
                    yield event
            except ModelfleetError as exc:
                cancel.raise_if_cancelled()
                yield StreamLost(self.endpoint.label, f"agent {self.endpoint.label}: {exc}", delay)
                cancel.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _watch_segment(
        self, cancel: CancelToken, interval_ms: int, models: Sequence[str]
    ) -> Iterator[WatchEvent]:
        """One stream call; returns quietly when its segment deadline passes."""
        label = self.endpoint.label
        token = read_token(self.endpoint.token_file)
        with grpc.insecure_channel(self.endpoint.address, options=_KEEPALIVE) as channel:
            ready = grpc.channel_ready_future(channel)

            def stop() -> None:
                ready.cancel()
                channel.close()

            unregister = cancel.on_cancel(stop)
            try:
                with map_rpc_errors("Metrics.WatchMetrics"):
                    try:
                        ready.result(self.connect_timeout_s)
                    except (grpc.FutureTimeoutError, grpc.FutureCancelledError):
                        cancel.raise_if_cancelled()
                        raise DeadlineExceeded(
                            f"no connection within {self.connect_timeout_s:g} s"
                        ) from None
                    call = agent_pb2_grpc.MetricsStub(channel).WatchMetrics(
                        agent_pb2.WatchMetricsRequest(interval_ms=interval_ms, models=models),
                        timeout=STREAM_SEGMENT_S,
                        metadata=(("authorization", f"Bearer {token}"),),
                    )
                    yield StreamConnected(label)
                    try:
                        for message in call:
                            yield snapshot_from_wire(label, message)
                    except grpc.RpcError:
                        if call.code() is _SEGMENT_END:
                            return
                        raise
            finally:
                unregister()
        cancel.raise_if_cancelled()
        raise ModelfleetError("metrics stream ended by the agent")
