"""Qt-free clients the desktop reads through; each returns dataclasses and has deadlines."""

from modelfleet.desktop.services.cancel import Cancelled, CancelToken
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

__all__ = [
    "AgentEndpoint",
    "AgentMetricsClient",
    "CancelToken",
    "Cancelled",
    "MetricsSeries",
    "MetricsSnapshot",
    "ModelMetrics",
    "StreamConnected",
    "StreamLost",
    "WatchEvent",
]
