"""Hot load of version 2 beside 1 and unload of 1 under concurrent load: no request fails."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from agentproc import AgentFactory
from modelzoo import OFFSET, offset_model, write_model
from oip import from_rest_output, grpc_outputs, grpc_request, rest_input

from modelfleet.proto.v1 import agent_pb2

pytestmark = pytest.mark.timeout(90)

ZERO = np.zeros((1, 1), dtype=np.float32)


class Hammer(threading.Thread):
    """Sends unversioned infer requests until stopped; records (start time, answer) or errors."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.stop = threading.Event()
        self.answers: list[tuple[float, float]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.answers.append((started, self.call()))
            except Exception as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")


def test_load_v2_then_unload_v1_under_load(tmp_path: Path, spawn: AgentFactory) -> None:
    models = tmp_path / "models"
    write_model(models, OFFSET, offset_model(1.0), version=1)
    agent = spawn(models)
    path = f"/v2/models/{OFFSET}/infer"
    body = {"inputs": [rest_input("x", ZERO, "FP32")]}

    def rest_call(rest: Any) -> float:
        resp = rest.post(path, body)
        if resp.status != 200:
            raise AssertionError(f"HTTP {resp.status}: {resp.body[:200]!r}")
        return float(from_rest_output(resp.json()["outputs"][0])[0, 0])

    def grpc_call(stub: Any, raw: bool) -> float:
        reply = stub.ModelInfer(grpc_request(OFFSET, [("x", ZERO, "FP32")], raw=raw), timeout=10)
        return float(grpc_outputs(reply)["y"][0, 0])

    hammers = [
        Hammer(partial(rest_call, agent.rest())),
        Hammer(partial(rest_call, agent.rest())),
        Hammer(partial(grpc_call, agent.oip(), raw=True)),
        Hammer(partial(grpc_call, agent.oip(), raw=False)),
    ]
    for hammer in hammers:
        hammer.start()
    control = agent.control()
    try:
        time.sleep(0.5)
        write_model(models, OFFSET, offset_model(2.0), version=2)
        loaded = control.LoadModel(
            agent_pb2.LoadModelRequest(name=OFFSET, version="2"), metadata=agent.auth, timeout=60
        )
        loaded_at = time.monotonic()
        assert (loaded.model.name, loaded.model.version, loaded.model.state) == (
            OFFSET,
            "2",
            "READY",
        )
        time.sleep(0.5)
        unloaded = control.UnloadModel(
            agent_pb2.UnloadModelRequest(name=OFFSET, version="1"), metadata=agent.auth, timeout=60
        )
        unloaded_at = time.monotonic()
        assert [(m.name, m.version) for m in unloaded.unloaded] == [(OFFSET, "1")]
        time.sleep(0.5)
    finally:
        for hammer in hammers:
            hammer.stop.set()
        for hammer in hammers:
            hammer.join(30)

    failures = [f for h in hammers for f in h.failures]
    assert not failures, failures[:5]
    answers = sorted(a for h in hammers for a in h.answers)
    assert len(answers) > 100, "the hammers barely ran"
    assert {value for _, value in answers} == {1.0, 2.0}
    # Unversioned requests go to the highest loaded version once the load has returned.
    assert {value for started, value in answers if started > loaded_at} == {2.0}
    assert sum(1 for started, _ in answers if started > unloaded_at) > 10

    listed = control.ListModels(agent_pb2.ListModelsRequest(), metadata=agent.auth, timeout=10)
    assert [(m.name, m.version, m.state) for m in listed.models] == [(OFFSET, "2", "READY")]
    rest = agent.rest()
    assert rest.get(f"/v2/models/{OFFSET}").json()["versions"] == ["2"]
    gone = rest.post(f"/v2/models/{OFFSET}/versions/1/infer", body)
    assert gone.status == 404, gone.body
    with pytest.raises(grpc.RpcError) as caught:
        agent.oip().ModelInfer(
            grpc_request(OFFSET, [("x", ZERO, "FP32")], raw=True, version="1"), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
