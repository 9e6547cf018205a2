"""Ground-truth feedback joined late, out of order and in bulk; rolling quality vs sklearn."""

from __future__ import annotations

import random
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2
from sklearn import metrics as skm

from modelfleet.proto.v1 import agent_pb2, agent_pb2_grpc
from tests.monitoring.monitored import MODEL, NAMES, reference_rows
from tests.monitoring.traffic import infer, snapshot
from tests.serving.agentproc import Agent

FEEDBACK = f"/v1/models/{MODEL}/feedback"


def _predict(agent: Agent, count: int, seed: int) -> list[tuple[str, int, float]]:
    """(request id, predicted label, probability of class 1) of single-row requests; half
    carry their own OIP id, half get one from the agent (friendly API)."""
    rest = agent.rest()
    rows = reference_rows(count, seed=seed)
    logged = []
    for i, row in enumerate(rows):
        if i % 2:
            body = infer(rest, row[None, :], request_id=f"req-{seed}-{i}")
            outputs = {o["name"]: o["data"] for o in body["outputs"]}
            label, p1 = outputs["label"][0], outputs["probabilities"][1]
        else:
            response = rest.post(
                f"/v1/models/{MODEL}/predict",
                {"instances": [dict(zip(NAMES, map(float, row), strict=True))]},
            )
            assert response.status == 200, response.body
            body = response.json()
            label, p1 = body["predictions"][0]["label"], body["predictions"][0]["probabilities"][1]
        assert body["id"], body
        logged.append((body["id"], int(label), float(p1)))
    assert len({i for i, _, _ in logged}) == count
    return logged


def test_late_out_of_order_bulk_feedback_matches_sklearn(agent: Agent) -> None:
    logged = _predict(agent, 240, seed=21)
    rng = random.Random(5)
    truth = {rid: (label if rng.random() < 0.8 else 1 - label) for rid, label, _ in logged}
    items: list[dict[str, Any]] = [{"id": rid, "label": truth[rid]} for rid, _, _ in logged]
    rng.shuffle(items)
    rest = agent.rest()
    unknown = [{"id": "never-sent", "label": 1}, {"id": "also-unknown", "label": 0}]
    first = rest.post(FEEDBACK, {"feedback": items[:100] + unknown})
    assert first.status == 200, first.body
    assert first.json()["accepted"] == 100
    assert first.json()["unknown_ids"] == ["never-sent", "also-unknown"]
    second = rest.post(FEEDBACK, {"feedback": items[100:]}).json()
    assert second["accepted"] == 140 and second["unknown_ids"] == []

    by_id = {rid: (label, p1) for rid, label, p1 in logged}
    order = [item["id"] for item in items]  # the rolling window keeps arrival order
    y_true = np.array([truth[r] for r in order])
    y_pred = np.array([by_id[r][0] for r in order])
    score = np.array([by_id[r][1] for r in order])
    expected = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred),
        "recall": skm.recall_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred),
        "auc": skm.roc_auc_score(y_true, score),
    }
    reported = second["accuracy"]["1"]
    assert reported["labelled"] == 240 and reported["task"] == "classification"
    for name, value in expected.items():
        assert reported[name] == pytest.approx(value, abs=1e-9), name
    watched = snapshot(agent).accuracy
    assert watched.labelled == 240 and watched.labelled_total == 240
    assert dict(watched.metrics) == pytest.approx(expected, abs=1e-9)

    # A label sent again is reported, not counted twice.
    again = rest.post(FEEDBACK, {"feedback": [items[0]]}).json()
    assert again["accepted"] == 0 and again["duplicate_ids"] == [items[0]["id"]]


def test_multi_row_request_takes_one_label_per_row(agent: Agent) -> None:
    rest = agent.rest()
    body = infer(rest, reference_rows(3, seed=31), request_id="three-rows")
    labelled_before = snapshot(agent).accuracy.labelled_total
    bad = rest.post(FEEDBACK, {"feedback": [{"id": "three-rows", "label": 1}]})
    assert bad.status == 400
    assert (
        bad.error
        == "feedback[0].label: the request had 3 row(s); expected a list of 3 labels (one per row)"
    )
    ok = rest.post(FEEDBACK, {"feedback": [{"id": body["id"], "label": [1, 0, True]}]})
    assert ok.status == 200 and ok.json()["accepted"] == 1, ok.body
    assert snapshot(agent).accuracy.labelled_total == labelled_before + 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON body"),
        ({"items": []}, 'body: expected {"feedback": [{"id": "...", "label": ...}, ...]}'),
        ({"feedback": []}, "feedback: expected a non-empty list of {id, label} objects"),
        ({"feedback": [{"id": "x", "label": 1}, 7]}, "feedback[1]: expected an object"),
        ({"feedback": [{"label": 1}]}, "feedback[0].id: expected the request id"),
        ({"feedback": [{"id": "", "label": 1}]}, "feedback[0].id: expected the request id"),
        ({"feedback": [{"id": "x"}]}, "feedback[0].label: missing"),
        ({"feedback": [{"id": "x", "label": 1, "more": 2}]}, "feedback[0]: unexpected field"),
        ({"feedback": [{"id": "x", "label": 1}, {"id": "x", "label": 0}]}, "feedback[1].id: 'x'"),
    ],
)  # fmt: skip
def test_bad_feedback_is_refused_whole_naming_the_item(
    agent: Agent, body: Any, message: str
) -> None:
    response = agent.rest().post(FEEDBACK, body)
    assert response.status == 400, response.body
    assert message in response.error


def test_a_bad_item_leaves_every_label_unstored(agent: Agent) -> None:
    rest = agent.rest()
    good = infer(rest, reference_rows(1, seed=41), request_id="good-one")["id"]
    other = infer(rest, reference_rows(1, seed=42), request_id="other-one")["id"]
    before = snapshot(agent).accuracy.labelled_total
    response = rest.post(
        FEEDBACK, {"feedback": [{"id": good, "label": 1}, {"id": other, "label": "yes"}]}
    )
    assert response.status == 400
    assert response.error == "feedback[1].label: expected an integer class label, got 'yes'"
    assert snapshot(agent).accuracy.labelled_total == before
    assert rest.post(FEEDBACK, {"feedback": [{"id": good, "label": 1}]}).json()["accepted"] == 1


def test_unknown_deployment_and_wrong_method(agent: Agent) -> None:
    rest = agent.rest()
    missing = rest.post("/v1/models/nope/feedback", {"feedback": [{"id": "a", "label": 1}]})
    assert missing.status == 404 and missing.error == "unknown model 'nope'"
    assert rest.get(FEEDBACK).status == 405


def test_grpc_twin(agent: Agent) -> None:
    rest = agent.rest()
    request_id = infer(rest, reference_rows(1, seed=51), request_id="grpc-fb")["id"]
    stub = agent_pb2_grpc.FeedbackStub(agent.channel())

    def item(rid: str, value: float) -> agent_pb2.FeedbackItem:
        return agent_pb2.FeedbackItem(id=rid, label=struct_pb2.Value(number_value=value))

    request = agent_pb2.FeedbackRequest(
        deployment=MODEL, feedback=[item(request_id, 1.0), item("grpc-unknown", 0.0)]
    )
    with pytest.raises(grpc.RpcError) as denied:
        stub.SendFeedback(request, timeout=10)
    assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = stub.SendFeedback(request, metadata=agent.auth, timeout=10)
    assert reply.accepted == 1 and list(reply.unknown_ids) == ["grpc-unknown"]
    (accuracy,) = reply.accuracy
    assert accuracy.version == "1" and accuracy.accuracy.task == "classification"
    bad = agent_pb2.FeedbackRequest(deployment=MODEL, feedback=[item(request_id, 0.5)])
    with pytest.raises(grpc.RpcError) as invalid:
        stub.SendFeedback(bad, metadata=agent.auth, timeout=10)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "feedback[0].label: expected an integer class label" in (invalid.value.details() or "")
    unknown = agent_pb2.FeedbackRequest(deployment="nope", feedback=[item("a", 1.0)])
    with pytest.raises(grpc.RpcError) as missing:
        stub.SendFeedback(unknown, metadata=agent.auth, timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
