"""AgentControl/Metrics authentication, model states, WatchMetrics and Prometheus /metrics."""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.http as httpclient
from agentproc import Agent, AgentFactory
from modelzoo import IDENTITY_IN, OFFSET, identity_name, offset_model, write_model
from oip import rest_input

from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb
from modelfleet.proto.v1 import agent_pb2

pytestmark = pytest.mark.timeout(90)

INT32 = identity_name("INT32")
FP64 = identity_name("FP64")
GOOD_INT32 = {
    "inputs": [rest_input(IDENTITY_IN, np.arange(6, dtype=np.int32).reshape(2, 3), "INT32")]
}
BAD_INT32 = {"inputs": [rest_input(IDENTITY_IN, np.zeros((2, 3), np.float32), "FP32")]}


def control_calls(agent: Agent) -> dict[str, Callable[[list[tuple[str, str]]], Any]]:
    control, metrics = agent.control(), agent.metrics()
    return {
        "ListModels": lambda md: control.ListModels(
            agent_pb2.ListModelsRequest(), metadata=md, timeout=10
        ),
        "UnloadModel": lambda md: control.UnloadModel(
            agent_pb2.UnloadModelRequest(name=FP64), metadata=md, timeout=10
        ),
        "LoadModel": lambda md: control.LoadModel(
            agent_pb2.LoadModelRequest(name=FP64, version="1"), metadata=md, timeout=10
        ),
        "WatchMetrics": lambda md: next(
            metrics.WatchMetrics(agent_pb2.WatchMetricsRequest(), metadata=md, timeout=10)
        ),
    }


@pytest.mark.parametrize("rpc", ["ListModels", "UnloadModel", "LoadModel", "WatchMetrics"])
@pytest.mark.parametrize(
    "metadata",
    [[], [("authorization", "Bearer wrong-token")], [("authorization", "test-control-token")]],
    ids=["none", "wrong", "no-bearer"],
)
def test_control_without_the_token_is_unauthenticated(
    agent: Agent, rpc: str, metadata: list[tuple[str, str]]
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        control_calls(agent)[rpc](metadata)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()
    assert "test-control-token" not in error.details()
    # Nothing happened: the model an unauthenticated UnloadModel named still serves.
    assert agent.rest().get(f"/v2/models/{FP64}/ready").status == 200


def test_list_models_with_the_token(agent: Agent) -> None:
    listed = control_calls(agent)["ListModels"](agent.auth)
    models = {(m.name, m.version): m for m in listed.models}
    status = models[(INT32, "1")]
    assert status.state == "READY"
    assert re.fullmatch("[0-9a-f]{64}", status.sha256)
    assert status.loaded_at.seconds > 0
    assert models[("credit-risk", "1")].batching.max_batch_size == 64


def test_generated_token_is_private_and_works(tmp_path: Path, spawn: AgentFactory) -> None:
    models = tmp_path / "models"
    write_model(models, OFFSET, offset_model(1.0))
    agent = spawn(models, token=None)
    token_file = agent.stderr_path.parent / "control.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=?", agent.token), "32 random bytes, urlsafe base64"
    assert agent.token not in agent.stderr(), "the token must never be logged"
    listed = control_calls(agent)["ListModels"](agent.auth)
    assert [(m.name, m.state) for m in listed.models] == [(OFFSET, "READY")]


def test_broken_model_is_reported_and_others_serve(tmp_path: Path, spawn: AgentFactory) -> None:
    models = tmp_path / "models"
    write_model(models, OFFSET, offset_model(1.0))
    broken = models / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.onnx").write_bytes(b"this is not an onnx file")
    (models / OFFSET / "latest").mkdir()  # not a version number: ignored with a warning
    agent = spawn(models)
    listed = control_calls(agent)["ListModels"](agent.auth)
    states = {(m.name, m.version): (m.state, m.reason) for m in listed.models}
    assert states[(OFFSET, "1")][0] == "READY"
    state, reason = states[("broken", "1")]
    assert state == "FAILED" and reason
    assert "latest" in agent.stderr()
    assert agent.rest().get(f"/v2/models/{OFFSET}/ready").status == 200
    # OIP REST signals "not ready" by the status code; Triton's client reads only that.
    triton = httpclient.InferenceServerClient(url=f"127.0.0.1:{agent.http_port}")
    assert triton.is_model_ready(OFFSET)
    assert not triton.is_model_ready("broken")
    assert agent.rest().get("/v2/models/broken/ready").status != 200
    try:
        broken_ready = agent.oip().ModelReady(pb.ModelReadyRequest(name="broken"), timeout=10).ready
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    else:
        assert not broken_ready


def _ok_requests(snapshot: Any, model: str) -> int:
    return sum(m.requests.get("ok", 0) for m in snapshot.models if m.name == model)


def test_watch_metrics_counters_grow_with_traffic(agent: Agent) -> None:
    stream = agent.metrics().WatchMetrics(
        agent_pb2.WatchMetricsRequest(interval_ms=100, models=[INT32]),
        metadata=agent.auth,
        timeout=30,
    )
    try:
        first = next(stream)
        assert first.agent_version
        assert {m.name for m in first.models} <= {INT32}
        before = _ok_requests(first, INT32)
        rest = agent.rest()
        for _ in range(25):
            assert rest.post(f"/v2/models/{INT32}/infer", GOOD_INT32).status == 200
        deadline = time.monotonic() + 10
        for snapshot in stream:
            if _ok_requests(snapshot, INT32) >= before + 25:
                (model,) = snapshot.models
                assert (model.name, model.version) == (INT32, "1")
                assert model.latency_total.count >= 25
                assert len(model.latency_total.counts) == len(model.latency_total.bounds) + 1
                assert model.batch_size.count >= 1
                assert model.in_flight == 0
                break
            assert time.monotonic() < deadline, "snapshots never showed the traffic"
    finally:
        stream.cancel()


def test_prometheus_metrics_count_requests(agent: Agent) -> None:
    def requests_by_status() -> dict[str, float]:
        counts: dict[str, float] = {}
        for (name, labels), value in agent.scrape().items():
            lbls = dict(labels)
            if name == "modelfleet_requests_total" and lbls.get("model") == FP64:
                assert lbls["version"] == "1"
                counts[lbls["status"]] = counts.get(lbls["status"], 0) + value
        return counts

    before = requests_by_status()
    duration_before = agent.metric("modelfleet_request_duration_seconds_count", model=FP64)
    rest = agent.rest()
    good = {"inputs": [rest_input(IDENTITY_IN, np.zeros((3, 3)), "FP64")]}
    for _ in range(7):
        assert rest.post(f"/v2/models/{FP64}/infer", good).status == 200
    for _ in range(3):
        assert rest.post(f"/v2/models/{FP64}/infer", BAD_INT32).status == 400
    after = requests_by_status()
    deltas = sorted(after[s] - before.get(s, 0) for s in after if after[s] != before.get(s, 0))
    assert deltas == [3, 7], (before, after)
    assert (
        agent.metric("modelfleet_request_duration_seconds_count", model=FP64) - duration_before >= 7
    )
    for histogram in ("queue_duration_seconds", "compute_duration_seconds", "batch_size"):
        assert agent.metric(f"modelfleet_{histogram}_count", model=FP64, version="1") >= 1, (
            histogram
        )
    assert agent.metric("modelfleet_batch_size_sum", model=FP64) >= 21  # 7 requests x 3 rows
    assert agent.metric("modelfleet_in_flight", model=FP64, version="1") == 0
