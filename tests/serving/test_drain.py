"""SIGTERM/SIGINT: stop taking work, finish what is in flight, exit 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agentproc import AgentFactory, Rest
from modelzoo import OFFSET, SLOW, offset_model, slow_model, write_model
from oip import grpc_outputs, grpc_request, rest_input

pytestmark = pytest.mark.timeout(90)

DRAIN_TIMEOUT_S = 20
X = np.ones((1, 4), dtype=np.float32)


def refused_or_status(port: int, method: str, path: str, body: Any = None) -> int | str:
    """Status of a request on a new connection, or "refused" when the agent no longer listens."""
    try:
        return Rest(port, timeout=10).request(method, path, body).status
    except (ConnectionRefusedError, ConnectionResetError):
        return "refused"


def test_sigterm_finishes_in_flight_requests(tmp_path: Path, spawn: AgentFactory) -> None:
    models = tmp_path / "models"
    write_model(models, SLOW, slow_model())
    agent = spawn(models, "--drain-timeout-s", str(DRAIN_TIMEOUT_S))
    path = f"/v2/models/{SLOW}/infer"
    body = {"inputs": [rest_input("x", X, "FP32")]}
    results: list[tuple[str, bool]] = []

    def rest_call() -> None:
        resp = agent.rest(timeout=60).post(path, body)
        results.append(
            ("rest", resp.status == 200 and resp.json()["outputs"][0]["data"] == [1.0] * 4)
        )

    stub = agent.oip()

    def grpc_call() -> None:
        reply = stub.ModelInfer(grpc_request(SLOW, [("x", X, "FP32")], raw=True), timeout=60)
        results.append(("grpc", grpc_outputs(reply)["y"].tolist() == X.tolist()))

    threads = [threading.Thread(target=f) for f in (rest_call, rest_call, rest_call, grpc_call)]
    for thread in threads:
        thread.start()
    agent.wait_in_flight(SLOW, at_least=len(threads))
    signalled = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    # The signal is handled asynchronously: give the agent a moment to flip readiness, but it
    # must do so while the admitted requests are still running.
    while (ready := refused_or_status(agent.http_port, "GET", "/v2/health/ready")) == 200:
        assert time.monotonic() - signalled < 2, "still ready 2 s after SIGTERM"
        time.sleep(0.01)
    assert ready in (503, "refused")
    assert len(results) < len(threads), "readiness flipped only after the in-flight work ended"
    assert refused_or_status(agent.http_port, "POST", path, body) in (503, "refused")

    for thread in threads:
        thread.join(DRAIN_TIMEOUT_S + 10)
    assert sorted(results) == [("grpc", True), ("rest", True), ("rest", True), ("rest", True)]
    code = agent.proc.wait(DRAIN_TIMEOUT_S + 5)
    assert code == 0, agent.stderr()
    assert time.monotonic() - signalled < DRAIN_TIMEOUT_S


def test_sigint_on_idle_agent_exits_zero(tmp_path: Path, spawn: AgentFactory) -> None:
    models = tmp_path / "models"
    write_model(models, OFFSET, offset_model(1.0))
    agent = spawn(models)
    started = time.monotonic()
    assert agent.stop(signal.SIGINT, timeout=15) == 0, agent.stderr()
    assert time.monotonic() - started < 10
