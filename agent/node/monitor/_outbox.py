"""Closed drift windows into the agent's durable outbox, for the hub's drift history."""

from __future__ import annotations

import asyncio

from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.agent.node.monitor._wire import drift_report_pb
from modelfleet.agent.node.rollups import ModelOf
from modelfleet.agent.node.state import Outbox
from modelfleet.agent.node.state._store import ROLLUP
from modelfleet.drift import DriftReport
from modelfleet.proto.v1 import fleet_pb2


class DriftForwarder:
    """A report sink: called on the drift worker thread, it writes there (the store is
    thread-safe) and wakes the session sender on the event loop.

    Reports share the roll-ups' kind: monitoring data that the outbox cap may drop, oldest
    first, while the hub is away (audit events never are).
    """

    def __init__(self, outbox: Outbox, model_of: ModelOf) -> None:
        self._outbox = outbox
        self._model_of = model_of
        self._loop = asyncio.get_running_loop()

    def __call__(self, deployment: str, version: str, report: DriftReport) -> None:
        model = self._model_of(deployment, version)
        if model is None:  # not a deployment of the hub's
            return
        stamp = Timestamp()
        stamp.GetCurrentTime()
        body = drift_report_pb(report, deployment, model, int(version))
        event = fleet_pb2.OutboxEvent(time=stamp, drift=body)
        self._outbox.store.append_many(ROLLUP, [event.SerializeToString()])
        self._loop.call_soon_threadsafe(self._outbox.changed.set)
