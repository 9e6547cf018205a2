"""Sending rows to an agent and reading its monitoring state."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from modelfleet.client import HubClient
from modelfleet.proto.v1 import agent_pb2
from tests.monitoring.monitored import MODEL
from tests.serving.agentproc import Agent, Rest


def infer(rest: Rest, rows: np.ndarray, request_id: str = "", model: str = MODEL) -> Any:
    body: dict[str, Any] = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": list(rows.shape),
             "data": rows.ravel().tolist()}
        ]
    }  # fmt: skip
    if request_id:
        body["id"] = request_id
    response = rest.post(f"/v2/models/{model}/infer", body)
    assert response.status == 200, response.body
    return response.json()


def hub_windows(
    client: HubClient, deployment: str, expected: int, timeout: float = 60.0
) -> list[Any]:
    """The deployment's drift windows on the hub (staging, newest first), once at least
    `expected` arrived or the timeout passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = client.query_drift(deployment, "staging")
        if len(found) >= expected or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.25)


def send(rest: Rest, rows: np.ndarray, per_request: int = 50) -> None:
    for start in range(0, rows.shape[0], per_request):
        infer(rest, rows[start : start + per_request])


def snapshot(agent: Agent) -> agent_pb2.ModelMetrics:
    """The model's entry of one WatchMetrics snapshot."""
    stream = agent.metrics().WatchMetrics(
        agent_pb2.WatchMetricsRequest(interval_ms=100, models=[MODEL]), metadata=agent.auth
    )
    try:
        first = next(iter(stream))
    finally:
        stream.cancel()
    (model,) = first.models
    return model


def wait_windows(agent: Agent, count: int, timeout: float = 30.0) -> agent_pb2.ModelMetrics:
    deadline = time.monotonic() + timeout
    while True:
        model = snapshot(agent)
        if model.drift.windows_closed >= count:
            return model
        assert time.monotonic() < deadline, f"only {model.drift.windows_closed} windows closed"
        time.sleep(0.1)
