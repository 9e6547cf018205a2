"""Feedback endpoints (REST and gRPC) and the monitoring fields of WatchMetrics snapshots."""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format

from modelfleet.agent.node.errors import InvalidInput
from modelfleet.agent.node.models import ModelManager
from modelfleet.agent.node.monitor._monitors import Monitors
from modelfleet.agent.node.monitor._predictions import FeedbackResult
from modelfleet.agent.node.monitor._wire import accuracy_pb, drift_report_pb
from modelfleet.agent.node.rpc.errors import RpcErrors
from modelfleet.proto.v1 import agent_pb2 as pb
from modelfleet.proto.v1 import agent_pb2_grpc as pb_grpc

Context = Any  # grpc.aio.ServicerContext


def accept_feedback(
    monitors: Monitors, manager: ModelManager, deployment: str, items: Any
) -> FeedbackResult:
    """404 for a deployment this agent neither serves nor has logged; 400 for a bad item."""
    monitors.require_deployment(deployment, bool(manager.versions_of(deployment)))
    return monitors.feedback(deployment, items)


def feedback_from_json(body: bytes) -> Any:
    """The `feedback` list of {"feedback": [{"id": ..., "label": ...}, ...]}."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON body: {exc}") from None
    if not isinstance(document, dict) or set(document) != {"feedback"}:
        raise InvalidInput('body: expected {"feedback": [{"id": "...", "label": ...}, ...]}')
    return document["feedback"]


def feedback_json(monitors: Monitors, deployment: str, result: FeedbackResult) -> dict[str, Any]:
    accuracy = {}
    for version in result.versions:
        monitor = monitors.get(deployment, version)
        if monitor is not None and monitor.quality is not None:
            q = monitor.quality
            accuracy[version] = {"task": q.task, "labelled": q.labelled, **q.metrics()}
    return {
        "accepted": result.accepted,
        "unknown_ids": result.unknown_ids,
        "duplicate_ids": result.duplicate_ids,
        "accuracy": accuracy,
    }


class FeedbackServicer(pb_grpc.FeedbackServicer):
    """The gRPC twin of POST /v1/models/{deployment}/feedback."""

    def __init__(self, monitors: Monitors, manager: ModelManager) -> None:
        self._monitors = monitors
        self._manager = manager

    async def SendFeedback(self, request: pb.FeedbackRequest, context: Context) -> Any:
        async with RpcErrors(context, "Feedback.SendFeedback"):
            items = [
                {"id": item.id, "label": json_format.MessageToDict(item.label)}
                if item.HasField("label")
                else {"id": item.id}
                for item in request.feedback
            ]
            deployment = request.deployment
            result = accept_feedback(self._monitors, self._manager, deployment, items)
            response = pb.FeedbackResponse(
                accepted=result.accepted,
                unknown_ids=result.unknown_ids,
                duplicate_ids=result.duplicate_ids,
            )
            for version in result.versions:
                status = accuracy_status(self._monitors, deployment, version)
                if status is not None:
                    response.accuracy.add(version=version, accuracy=status)
            return response


def accuracy_status(monitors: Monitors, name: str, version: str) -> pb.AccuracyStatus | None:
    monitor = monitors.get(name, version)
    if monitor is None or monitor.quality is None:
        return None
    q = monitor.quality
    return accuracy_pb(q.task, q.labelled, q.total, q.metrics())


def fill_snapshot(monitors: Monitors, message: pb.ModelMetrics) -> None:
    """Add drift and accuracy to one version's WatchMetrics entry."""
    monitor = monitors.get(message.name, message.version)
    if monitor is None:
        return
    drift = message.drift
    drift.batches_dropped = monitor.batches_dropped
    tracker = monitor.drift
    if tracker is None:
        drift.reason = monitor.drift_reason
    else:
        drift.enabled = True
        drift.windows_closed = tracker.windows_closed
        drift.rows_in_open_window = tracker.rows_in_open_window
        last = tracker.last
        if last is not None:
            drift.share_drifted = last.share_drifted
            drift.dataset_drifted = last.dataset_drifted
            version = int(message.version) if message.version.isdigit() else 0
            drift.last_window.CopyFrom(
                drift_report_pb(last, message.name, message.name, version, histograms=False)
            )
    status = accuracy_status(monitors, message.name, message.version)
    if status is not None:
        message.accuracy.CopyFrom(status)
