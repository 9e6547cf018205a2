"""Inference keys on a real agent: REST and gRPC, scopes, rate limits, the keys file."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.struct_pb2 import Value

from modelfleet.proto.inference import grpc_predict_v2_pb2 as oip
from modelfleet.proto.v1 import agent_pb2, agent_pb2_grpc
from tests.node_security.conftest import Spawn, create_key
from tests.serving.agentproc import Agent, Rest

ROW = [0.5] * 20
INFER = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 20], "data": ROW}]}
PREDICT = {"inputs": [ROW]}


@dataclass
class Keyed:
    agent: Agent
    keys_file: Path
    credit: str  # credit-risk only
    fraud: str  # fraud only, 0.5 requests/s, burst 2
    every: str  # "*"


@pytest.fixture(scope="module")
def keyed(models: Path, spawn: Spawn, tmp_path_factory: pytest.TempPathFactory) -> Keyed:
    keys_file = tmp_path_factory.mktemp("keys") / "keys.json"
    secrets = []
    for args in (["--models", "credit-risk"], ["--models", "fraud", "--rate", "0.5",
                                                "--burst", "2"], ["--models", "*"]):  # fmt: skip
        made = create_key(keys_file, *args)
        assert made.returncode == 0, made.stderr
        secrets.append(made.stdout.strip())
    agent = spawn(models, "--inference-keys", str(keys_file))
    return Keyed(agent, keys_file, *secrets)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wrong(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def test_keys_file_keeps_only_hashes(keyed: Keyed) -> None:
    text = keyed.keys_file.read_text()
    document = json.loads(text)
    assert stat.S_IMODE(keyed.keys_file.stat().st_mode) == 0o600
    for secret in (keyed.credit, keyed.fraud, keyed.every):
        assert secret.startswith("mfk_")
        assert secret not in text
        assert secret.split("_", 2)[2] not in text
    digests = {e["sha256"] for e in document["keys"]}
    assert hashlib.sha256(keyed.credit.encode()).hexdigest() in digests
    by_models = {tuple(e["models"]): e for e in document["keys"]}
    assert by_models[("fraud",)]["rate_per_s"] == 0.5 and by_models[("fraud",)]["burst"] == 2
    assert by_models[("credit-risk",)]["rate_per_s"] is None


def test_keys_create_refuses_bad_options(tmp_path: Path) -> None:
    made = create_key(tmp_path / "k.json", "--models", "m", "--rate", "-1")
    assert made.returncode == 1
    assert "rate_per_s" in made.stderr and "> 0" in made.stderr
    assert not (tmp_path / "k.json").exists()


def test_health_stays_open(keyed: Keyed) -> None:
    rest = keyed.agent.rest()
    assert rest.get("/v2/health/live").status == 200
    assert rest.get("/v2/health/ready").status == 200
    assert keyed.agent.oip().ServerLive(oip.ServerLiveRequest(), timeout=10).live


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v2/models/credit-risk/infer", INFER),
        ("POST", "/v2/models/credit-risk/versions/1/infer", INFER),
        ("GET", "/v2/models/credit-risk", None),
        ("GET", "/v2/models/credit-risk/ready", None),
        ("POST", "/v1/models/credit-risk/predict", PREDICT),
        ("GET", "/v1/models/credit-risk/openapi.json", None),
        ("POST", "/v1/models/credit-risk/feedback", {"feedback": [{"id": "x", "label": 1}]}),
        ("POST", "/v2/models/no-such-model/infer", INFER),
    ],
)
def test_rest_routes_need_a_key(keyed: Keyed, method: str, path: str, body: Any) -> None:
    rest = keyed.agent.rest()
    for headers in (
        {},
        bearer(wrong(keyed.credit)),
        bearer("not-a-key"),
        {"Authorization": "Basic x"},
    ):
        resp = rest.request(method, path, body, headers=headers)
        assert resp.status == 401, (headers, resp.body)
        assert "missing or invalid inference key" in resp.error
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert keyed.credit not in resp.body.decode()


def test_rest_right_key_per_model(keyed: Keyed) -> None:
    rest = keyed.agent.rest()
    ok = rest.post("/v2/models/credit-risk/infer", INFER, headers=bearer(keyed.credit))
    assert ok.status == 200, ok.body
    assert ok.json()["outputs"][0]["name"] == "label"
    assert (
        rest.post("/v1/models/credit-risk/predict", PREDICT, headers=bearer(keyed.credit)).status
        == 200
    )
    refused = rest.post("/v2/models/fraud/infer", INFER, headers=bearer(keyed.credit))
    assert refused.status == 403
    assert "may not call model 'fraud'" in refused.error
    for model in ("credit-risk", "fraud"):
        resp = rest.post(f"/v2/models/{model}/infer", INFER, headers=bearer(keyed.every))
        assert resp.status == 200, resp.body
    # An unknown model looks the same as a forbidden one to a scoped key (no existence oracle).
    assert rest.post("/v2/models/nope/infer", INFER, headers=bearer(keyed.credit)).status == 403
    assert rest.post("/v2/models/nope/infer", INFER, headers=bearer(keyed.every)).status == 404


def test_feedback_and_openapi_obey_keys(keyed: Keyed) -> None:
    rest = keyed.agent.rest()
    infer = rest.post(
        "/v2/models/credit-risk/infer", {**INFER, "id": "req-1"}, headers=bearer(keyed.credit)
    )
    assert infer.status == 200
    body = {"feedback": [{"id": "req-1", "label": 1}]}
    fed = rest.post("/v1/models/credit-risk/feedback", body, headers=bearer(keyed.credit))
    assert fed.status == 200 and fed.json()["accepted"] == 1, fed.body
    doc = rest.request("GET", "/v1/models/credit-risk/openapi.json", headers=bearer(keyed.credit))
    assert doc.status == 200
    schemes = doc.json()["components"]["securitySchemes"]
    assert schemes["inferenceKey"] == {
        **schemes["inferenceKey"],
        "type": "http",
        "scheme": "bearer",
    }
    assert doc.json()["security"] == [{"inferenceKey": []}]
    assert "401" in doc.json()["paths"]["/v2/models/credit-risk/infer"]["post"]["responses"]


def _infer_request(model: str) -> oip.ModelInferRequest:
    tensor = oip.ModelInferRequest.InferInputTensor(
        name="input",
        datatype="FP32",
        shape=[1, 20],
        contents=oip.InferTensorContents(fp32_contents=ROW),
    )
    return oip.ModelInferRequest(model_name=model, inputs=[tensor])


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_grpc_keys(keyed: Keyed) -> None:
    stub = keyed.agent.oip()
    credit = _infer_request("credit-risk")
    assert _code(lambda: stub.ModelInfer(credit, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    for key in (wrong(keyed.credit), "garbage"):
        md = [("authorization", f"Bearer {key}")]
        assert (
            _code(lambda md=md: stub.ModelInfer(credit, metadata=md, timeout=10))
            == grpc.StatusCode.UNAUTHENTICATED
        )
    md = [("authorization", f"Bearer {keyed.credit}")]
    reply = stub.ModelInfer(credit, metadata=md, timeout=10)
    assert reply.model_name == "credit-risk" and reply.outputs
    fraud = _infer_request("fraud")
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(fraud, metadata=md, timeout=10)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not call model 'fraud'" in (info.value.details() or "")
    meta = oip.ModelMetadataRequest(name="credit-risk")
    assert _code(lambda: stub.ModelMetadata(meta, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    assert stub.ModelMetadata(meta, metadata=md, timeout=10).name == "credit-risk"
    ready = oip.ModelReadyRequest(name="credit-risk")
    assert _code(lambda: stub.ModelReady(ready, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    assert stub.ServerReady(oip.ServerReadyRequest(), timeout=10).ready


def test_grpc_feedback_takes_a_key_or_the_control_token(keyed: Keyed) -> None:
    feedback = agent_pb2_grpc.FeedbackStub(keyed.agent.channel())
    request = agent_pb2.FeedbackRequest(
        deployment="credit-risk",
        feedback=[agent_pb2.FeedbackItem(id="none", label=Value(number_value=1))],
    )
    assert (
        _code(lambda: feedback.SendFeedback(request, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    )
    by_key = feedback.SendFeedback(
        request, metadata=[("authorization", f"Bearer {keyed.credit}")], timeout=10
    )
    assert list(by_key.unknown_ids) == ["none"]
    by_token = feedback.SendFeedback(request, metadata=keyed.agent.auth, timeout=10)
    assert list(by_token.unknown_ids) == ["none"]
    # The control services still take the control token only.
    control = keyed.agent.control()
    listing = agent_pb2.ListModelsRequest()
    md = [("authorization", f"Bearer {keyed.every}")]
    assert (
        _code(lambda: control.ListModels(listing, metadata=md, timeout=10))
        == grpc.StatusCode.UNAUTHENTICATED
    )


def test_rate_limit_then_recovery(keyed: Keyed) -> None:
    rest = Rest(keyed.agent.http_port)
    headers = bearer(keyed.fraud)
    started = time.monotonic()
    statuses = [rest.post("/v2/models/fraud/infer", INFER, headers=headers) for _ in range(3)]
    assert time.monotonic() - started < 2, "too slow to observe the burst"
    assert [r.status for r in statuses] == [200, 200, 429]
    limited = statuses[2]
    assert "rate limit of 0.5 requests/s" in limited.error
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 2
    # gRPC shares the key's bucket and says when to come back too.
    stub = keyed.agent.oip()
    md = [("authorization", f"Bearer {keyed.fraud}")]
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(_infer_request("fraud"), metadata=md, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailing = dict(info.value.trailing_metadata() or ())
    assert 1 <= int(trailing["retry-after"]) <= 2
    time.sleep(retry_after)
    assert rest.post("/v2/models/fraud/infer", INFER, headers=headers).status == 200
    # Other keys have their own buckets.
    assert rest.post("/v2/models/fraud/infer", INFER, headers=bearer(keyed.every)).status == 200


def test_metrics_open_on_loopback(keyed: Keyed) -> None:
    assert keyed.agent.metric("modelfleet_requests_total", model="credit-risk") > 0
