"""The Monitoring page's state: one ring-buffered series per agent/model/version, fed by streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from modelfleet.desktop.series import COLUMNS, TIME, FloatArray, RingBuffer, peak_envelope
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.metrics import (
    AgentEndpoint,
    AgentMetricsClient,
    MetricsSeries,
    MetricsSnapshot,
    ModelMetrics,
    StreamConnected,
    StreamLost,
    WatchEvent,
)
from modelfleet.desktop.workers import StreamWorker, WorkerSlot

# One hour at 10 snapshots a second per series.
DEFAULT_CAPACITY = 36_000
# Stored history is charted as a min/max envelope of at most this many points per curve, so
# a million stored samples cost the GUI thread no more than the live hour does.
HISTORY_DISPLAY_POINTS = 8_000
DEFAULT_INTERVAL_MS = 1000

WatchFn = Callable[[CancelToken], Iterator[WatchEvent]]


@dataclass(frozen=True, order=True)
class SeriesKey:
    agent: str
    model: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version} @ {self.agent}"


class LiveSeries:
    """Samples of one series plus the latest totals; `revision` grows on every change.

    Live samples go to a ring buffer; stored history merged in front of them is kept apart
    as a peak envelope (`history_display`), since it no longer changes.
    """

    def __init__(self, key: SeriesKey, capacity: int) -> None:
        self.key = key
        self.buffer = RingBuffer(capacity, COLUMNS)
        self.history_display: FloatArray = np.empty((COLUMNS, 0))
        self.history_points = 0
        self.revision = 0
        self.latest: ModelMetrics | None = None

    def add(self, when: float, metrics: ModelMetrics) -> None:
        previous = self.latest
        errors = metrics.errors_total
        if previous is not None and errors >= previous.errors_total:
            errors -= previous.errors_total  # else the agent restarted and its counters reset
        self.buffer.append(
            [
                when,
                metrics.throughput,
                metrics.p50 * 1000.0,
                metrics.p95 * 1000.0,
                metrics.p99 * 1000.0,
                float(errors if previous is not None else 0),
            ]
        )
        self.latest = metrics
        self.revision += 1

    def merge_history(self, history: MetricsSeries) -> None:
        """Put stored samples older than the live ones in front of them."""
        columns: FloatArray = np.vstack(
            [
                history.time,
                history.throughput,
                history.p50_ms,
                history.p95_ms,
                history.p99_ms,
                history.errors,
            ]
        ).astype(np.float64)
        live = self.buffer.columns()
        if live.shape[1]:
            columns = columns[:, columns[TIME] < live[TIME, 0]]
        self.history_points = columns.shape[1]
        self.history_display = peak_envelope(columns, HISTORY_DISPLAY_POINTS)
        self.revision += 1

    def display(self) -> FloatArray:
        """Columns to chart: the history envelope, then every live sample."""
        live = self.buffer.columns()
        if not self.history_display.shape[1]:
            return live
        return np.concatenate([self.history_display, live], axis=1)


class MonitoringViewModel(QObject):
    """Streams from agents (or any event source) into `LiveSeries`; widgets poll `revision`."""

    seriesAdded = Signal(object)  # SeriesKey
    agentStateChanged = Signal(str, str, str)  # agent, "connecting" | "live" | "lost", message
    errorRaised = Signal(str)

    def __init__(
        self,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        capacity: int = DEFAULT_CAPACITY,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.capacity = capacity
        self.revision = 0
        self._series: dict[SeriesKey, LiveSeries] = {}
        self._streams: dict[str, WorkerSlot] = {}
        self.agent_states: dict[str, tuple[str, str]] = {}

    def series_keys(self) -> list[SeriesKey]:
        return list(self._series)

    def series(self, key: SeriesKey) -> LiveSeries:
        return self._series[key]

    def sources(self) -> list[str]:
        return list(self._streams)

    def add_agent(self, endpoint: AgentEndpoint) -> None:
        """Watch an agent's metrics until removed; replaces a watch of the same address."""
        client = AgentMetricsClient(endpoint)
        self.add_stream(endpoint.label, lambda token: client.watch(token, self.interval_ms))

    def add_stream(self, source: str, watch: WatchFn) -> None:
        """Feed events from `watch(token)` (run on a worker) under the name `source`."""
        slot = self._streams.get(source)
        if slot is None:
            slot = self._streams[source] = WorkerSlot(self)
        worker = StreamWorker(f"metrics {source}", watch)
        worker.item.connect(self.ingest)
        worker.failed.connect(lambda message: self._on_stream_failed(source, message))
        self._set_state(source, "connecting", "")
        slot.start(worker)

    def remove_stream(self, source: str) -> None:
        slot = self._streams.pop(source, None)
        if slot is not None:
            slot.cancel()
        self.agent_states.pop(source, None)
        self.agentStateChanged.emit(source, "removed", "")

    def shutdown(self) -> None:
        """Tell every stream to quit (they stop on their own threads)."""
        for slot in self._streams.values():
            slot.cancel()
        self._streams.clear()

    def ingest(self, event: object) -> None:
        if isinstance(event, MetricsSnapshot):
            self._ingest_snapshot(event)
        elif isinstance(event, StreamConnected):
            self._set_state(event.agent, "live", "")
        elif isinstance(event, StreamLost):
            message = f"{event.message}; retrying in {event.retry_in_s:g} s"
            self._set_state(event.agent, "lost", message)

    def merge_history(self, history: MetricsSeries) -> None:
        key = SeriesKey(history.agent, history.model, history.version)
        self._get_or_add(key).merge_history(history)
        self.revision += 1

    def _ingest_snapshot(self, snapshot: MetricsSnapshot) -> None:
        if self.agent_states.get(snapshot.agent, ("", ""))[0] != "live":
            self._set_state(snapshot.agent, "live", "")
        for metrics in snapshot.models:
            key = SeriesKey(snapshot.agent, metrics.model, metrics.version)
            self._get_or_add(key).add(snapshot.time, metrics)
        self.revision += 1

    def _get_or_add(self, key: SeriesKey) -> LiveSeries:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = LiveSeries(key, self.capacity)
            self.seriesAdded.emit(key)
        return series

    def _set_state(self, source: str, state: str, message: str) -> None:
        if self.agent_states.get(source) == (state, message):
            return
        self.agent_states[source] = (state, message)
        self.agentStateChanged.emit(source, state, message)

    def _on_stream_failed(self, source: str, message: str) -> None:
        # Streams retry connection problems themselves; reaching here means they gave up.
        self._set_state(source, "lost", message)
        self.errorRaised.emit(message)
