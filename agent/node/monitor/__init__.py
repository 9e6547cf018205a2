"""Live monitoring on the agent: drift of live traffic, prediction log, feedback, quality."""

from modelfleet.agent.node.monitor._feedback import (
    FeedbackServicer,
    accept_feedback,
    feedback_from_json,
    feedback_json,
    fill_snapshot,
)
from modelfleet.agent.node.monitor._monitors import (
    PROFILE_FILE,
    Monitors,
    MonitorSettings,
    VersionMonitor,
)
from modelfleet.agent.node.monitor._outbox import DriftForwarder

__all__ = [
    "PROFILE_FILE",
    "DriftForwarder",
    "FeedbackServicer",
    "MonitorSettings",
    "Monitors",
    "VersionMonitor",
    "accept_feedback",
    "feedback_from_json",
    "feedback_json",
    "fill_snapshot",
]
