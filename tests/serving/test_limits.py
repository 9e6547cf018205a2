"""Per-model in-flight limit (429), request deadline (504) and gRPC client deadlines."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from agentproc import Agent, AgentFactory
from modelzoo import IDENTITY_IN, SLOW, identity_model, identity_name, slow_model, write_model
from oip import grpc_request, rest_input

pytestmark = pytest.mark.timeout(90)

MAX_IN_FLIGHT = 2
X = np.ones((1, 4), dtype=np.float32)
SLOW_PATH = f"/v2/models/{SLOW}/infer"
SLOW_BODY = {"inputs": [rest_input("x", X, "FP32")]}
FAST = identity_name("FP32")
FAST_BODY = {"inputs": [rest_input(IDENTITY_IN, np.zeros((1, 3), np.float32), "FP32")]}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("limits") / "models"
    write_model(root, SLOW, slow_model())
    write_model(root, FAST, identity_model("FP32"))
    return root


@pytest.fixture(scope="module")
def narrow(models: Path, spawn_module: AgentFactory) -> Agent:
    """At most two requests in flight per model, a generous deadline."""
    return spawn_module(
        models, "--max-in-flight", str(MAX_IN_FLIGHT), "--request-timeout-ms", "30000"
    )


@pytest.fixture(scope="module")
def hasty(models: Path, spawn_module: AgentFactory) -> Agent:
    """A deadline far shorter than one run of the slow model."""
    return spawn_module(models, "--request-timeout-ms", "100")


def _start_slow_requests(agent: Agent, count: int, statuses: list[int]) -> list[threading.Thread]:
    def call() -> None:
        statuses.append(agent.rest(timeout=60).post(SLOW_PATH, SLOW_BODY).status)

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def test_in_flight_over_limit_is_429_and_resource_exhausted(narrow: Agent) -> None:
    statuses: list[int] = []
    threads = _start_slow_requests(narrow, MAX_IN_FLIGHT, statuses)
    narrow.wait_in_flight(SLOW, at_least=MAX_IN_FLIGHT)

    rejected = narrow.rest().post(SLOW_PATH, SLOW_BODY)
    assert rejected.status == 429, rejected.body
    assert re.search(r"in.flight|busy|too many", rejected.error, re.IGNORECASE), rejected.error
    with pytest.raises(grpc.RpcError) as caught:
        narrow.oip().ModelInfer(grpc_request(SLOW, [("x", X, "FP32")], raw=True), timeout=30)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    # The limit is per model: another model still answers.
    assert narrow.rest().post(f"/v2/models/{FAST}/infer", FAST_BODY).status == 200

    for thread in threads:
        thread.join(60)
    assert statuses == [200] * MAX_IN_FLIGHT
    assert narrow.rest().post(SLOW_PATH, SLOW_BODY).status == 200


def test_request_deadline_is_504_and_deadline_exceeded(hasty: Agent) -> None:
    late = hasty.rest(timeout=60).post(SLOW_PATH, SLOW_BODY)
    assert late.status == 504, late.body
    assert re.search(r"deadline|timed? ?out|100", late.error, re.IGNORECASE), late.error
    with pytest.raises(grpc.RpcError) as caught:
        # No client deadline: the agent's own deadline must end the call.
        hasty.oip().ModelInfer(grpc_request(SLOW, [("x", X, "FP32")], raw=False))
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.details()
    assert hasty.rest().post(f"/v2/models/{FAST}/infer", FAST_BODY).status == 200
    assert hasty.alive()


def _deadline_count(agent: Agent) -> float:
    return sum(
        value
        for (name, labels), value in agent.scrape().items()
        if name == "modelfleet_requests_total"
        and ("model", SLOW) in labels
        and any(k == "status" and re.search("deadline|504", v) for k, v in labels)
    )


def test_grpc_client_deadline_counts_as_deadline_exceeded(narrow: Agent) -> None:
    before = _deadline_count(narrow)
    with pytest.raises(grpc.RpcError) as caught:
        narrow.oip().ModelInfer(grpc_request(SLOW, [("x", X, "FP32")], raw=True), timeout=0.1)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The agent sees the client's deadline too and books the request as deadline-exceeded.
    deadline = time.monotonic() + 10
    while _deadline_count(narrow) < before + 1:
        assert time.monotonic() < deadline, "the agent never counted the expired request"
        time.sleep(0.05)
    assert narrow.alive()
