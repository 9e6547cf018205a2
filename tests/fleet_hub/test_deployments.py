"""Deployments: revisions, rollback, promotion policy, traffic validation, desired-state push."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db import AuditEvent
from modelfleet.agent.hub.deployments.policy import DenyAll, Promotion
from modelfleet.proto.v1 import deployments_pb2 as dp
from modelfleet.proto.v1 import fleet_pb2
from tests.fleet_hub.agentclient import connect
from tests.fleet_hub.conftest import FleetHub, push_versions


def _versions(d: Any) -> list[tuple[int, int]]:
    return [(t.model_version, t.percent) for t in d.targets]


def _error(fn: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value


def test_revisions_traffic_rollback_and_push(fleet_hub: FleetHub, sample_onnx: Path) -> None:
    hub = fleet_hub
    push_versions(hub, sample_onnx, "fraud-model", 3)
    eu = hub.enrol("staging", "eu-1", region="eu")
    us = hub.enrol("staging", "us-1", region="us")
    with eu.channel() as eu_channel, us.channel() as us_channel:
        eu_session, us_session = connect(eu_channel), connect(us_channel)
        assert not eu_session.recv_kind("desired").desired.deployments
        assert not us_session.recv_kind("desired").desired.deployments

        d = hub.deployments.Deploy(
            dp.DeployRequest(
                name="fraud", environment="staging", selector="region=eu",
                model_name="fraud-model", model_version=1, reason="first",
            ),
            metadata=hub.md(),
        )  # fmt: skip
        assert (d.revision, _versions(d), d.selector) == (1, [(1, 100)], "region=eu")
        pushed = eu_session.recv_kind("desired").desired
        assert [s.name for s in pushed.deployments] == ["fraud"]
        spec = pushed.deployments[0]
        assert spec.targets[0].artifact_sha256 and spec.targets[0].manifest_signature
        first_revision = pushed.revision
        # The agent outside the selector is not told about it.
        with pytest.raises(queue.Empty):
            us_session.recv_kind("desired", timeout=0.5)

        hub.deployments.Deploy(
            dp.DeployRequest(name="fraud", environment="staging", selector="region=eu",
                             model_name="fraud-model", model_version=2),
            metadata=hub.md(),
        )  # fmt: skip
        d = hub.deployments.SetTraffic(
            dp.SetTrafficRequest(
                name="fraud", environment="staging", reason="canary",
                split=[dp.TrafficSplit(model_version=2, percent=90),
                       dp.TrafficSplit(model_version=3, percent=10)],
                sticky_key="x-user",
            ),
            metadata=hub.md(),
        )  # fmt: skip
        assert (d.revision, _versions(d), d.sticky_key) == (3, [(2, 90), (3, 10)], "x-user")
        assert _versions(eu_session.recv_kind("desired").desired.deployments[0]) == [(2, 100)]
        canary = eu_session.recv_kind("desired").desired
        assert canary.revision > first_revision
        assert [(t.model_version, t.percent) for t in canary.deployments[0].targets] == [
            (2, 90),
            (3, 10),
        ]

        back = hub.deployments.Rollback(
            dp.RollbackRequest(name="fraud", environment="staging", reason="canary bad"),
            metadata=hub.md(),
        )
        assert (back.revision, _versions(back)) == (4, [(2, 100)])
        named = hub.deployments.Rollback(
            dp.RollbackRequest(name="fraud", environment="staging", to_revision=1),
            metadata=hub.md(),
        )
        assert (named.revision, _versions(named)) == (5, [(1, 100)])

        eu_session.send(
            fleet_pb2.AgentMessage(
                report=fleet_pb2.DeploymentReport(
                    desired_revision=9,
                    versions=[fleet_pb2.LoadedVersion(
                        deployment="fraud", model_name="fraud-model", model_version=1,
                        state="ready",
                    )],
                )
            )
        )  # fmt: skip
        eu_session.send(fleet_pb2.AgentMessage(heartbeat=fleet_pb2.Heartbeat(health="ok")))
        got = _wait_for_status(hub, "ready")
        assert [(a.agent_id, a.hostname) for a in got.agents] == [(eu.agent_id, "node-1")]

        undeployed = hub.deployments.Undeploy(
            dp.UndeployRequest(name="fraud", environment="staging"), metadata=hub.md()
        )
        assert undeployed.state == "undeployed"
        while eu_session.recv_kind("desired").desired.deployments:
            pass
        eu_session.close()
        us_session.close()

    events = hub.deployments.ListDeploymentEvents(
        dp.ListDeploymentEventsRequest(name="fraud", environment="staging"), metadata=hub.md()
    ).events
    assert [(e.revision, e.kind, e.actor) for e in events] == [
        (1, "deploy", "admin"),
        (2, "deploy", "admin"),
        (3, "traffic", "admin"),
        (4, "rollback", "admin"),
        (5, "rollback", "admin"),
        (6, "undeploy", "admin"),
    ]
    assert (events[0].reason, events[2].reason, events[3].reason) == (
        "first",
        "canary",
        "canary bad",
    )
    assert [_versions(e) for e in events[:3]] == [[(1, 100)], [(2, 100)], [(2, 90), (3, 10)]]
    assert not hub.deployments.ListDeployments(
        dp.ListDeploymentsRequest(), metadata=hub.md()
    ).deployments


def _wait_for_status(hub: FleetHub, state: str) -> Any:
    deadline = time.monotonic() + 10
    while True:
        d = hub.deployments.GetDeployment(
            dp.GetDeploymentRequest(name="fraud", environment="staging"), metadata=hub.md()
        )
        if [a.state for a in d.agents] == [state] or time.monotonic() > deadline:
            return d
        time.sleep(0.05)


def test_promotion_policy_and_precise_errors(fleet_hub_factory: Any, sample_onnx: Path) -> None:
    hub: FleetHub = fleet_hub_factory(DenyAll("release freeze"))
    push_versions(hub, sample_onnx, "fraud-model", 2)
    deploy = dp.DeployRequest(
        name="fraud", environment="staging", model_name="fraud-model", alias="", model_version=1
    )
    hub.deployments.Deploy(deploy, metadata=hub.md())
    promote = dp.PromoteRequest(
        name="fraud", from_environment="staging", to_environment="production"
    )
    err = _error(lambda: hub.deployments.Promote(promote, metadata=hub.md()))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "promotion policy: release freeze" in err.details()
    assert (
        _error(
            lambda: hub.deployments.GetDeployment(
                dp.GetDeploymentRequest(name="fraud", environment="production"), metadata=hub.md()
            )
        ).code()
        == grpc.StatusCode.NOT_FOUND
    )
    direct = _error(
        lambda: hub.deployments.Deploy(
            dp.DeployRequest(name="fraud", environment="production", model_name="fraud-model",
                             model_version=2),
            metadata=hub.md(),
        )
    )  # fmt: skip
    assert direct.code() == grpc.StatusCode.PERMISSION_DENIED
    # A non-guarded environment is not subject to the policy.
    qa = hub.deployments.Promote(
        dp.PromoteRequest(name="fraud", from_environment="staging", to_environment="qa"),
        metadata=hub.md(),
    )
    assert (qa.environment, _versions(qa)) == ("qa", [(1, 100)])

    def traffic(*split: tuple[int, int]) -> grpc.RpcError:
        request = dp.SetTrafficRequest(
            name="fraud", environment="staging",
            split=[dp.TrafficSplit(model_version=v, percent=p) for v, p in split],
        )  # fmt: skip
        return _error(lambda: hub.deployments.SetTraffic(request, metadata=hub.md()))

    cases = {
        "split: expected percents summing to 100 (got sum 95)": traffic((1, 90), (2, 5)),
        "split: expected 1-4 versions (got 5)": traffic(
            (1, 20), (2, 20), (3, 20), (4, 20), (5, 20)
        ),
        "split: expected 1-4 versions (got 0)": traffic(),
        "split[1].model_version: expected each version once (got version 1 again)": traffic(
            (1, 50), (1, 50)
        ),
        "split[0].percent: expected 0-100 (got 150)": traffic((1, 150), (2, 0)),
    }
    for message, error in cases.items():
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == message
    missing = traffic((1, 50), (7, 50))
    assert (
        missing.code() == grpc.StatusCode.NOT_FOUND
        and "split[1].model_version" in missing.details()
    )
    bad = _error(
        lambda: hub.deployments.Deploy(
            dp.DeployRequest(
                name="fraud", environment="Staging!", model_name="fraud-model", model_version=1
            ),
            metadata=hub.md(),
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT and bad.details().startswith(
        "environment"
    )
    both = _error(
        lambda: hub.deployments.Deploy(
            dp.DeployRequest(
                name="fraud",
                environment="staging",
                model_name="fraud-model",
                model_version=1,
                alias="champion",
            ),
            metadata=hub.md(),
        )
    )
    assert both.details() == "model_version: expected exactly one of model_version and alias"
    # Refusals stored nothing: still one revision in staging.
    events = hub.deployments.ListDeploymentEvents(
        dp.ListDeploymentEventsRequest(name="fraud", environment="staging"), metadata=hub.md()
    ).events
    assert [e.revision for e in events] == [1]


class _Freeze:
    """A release freeze that starts later: DenyAll while frozen; every question is kept."""

    def __init__(self) -> None:
        self.frozen = False
        self.asked: list[Promotion] = []
        self._deny = DenyAll("release freeze")

    def check(self, promotion: Promotion) -> None:
        self.asked.append(promotion)
        if self.frozen:
            self._deny.check(promotion)


def _last_audit(hub: FleetHub, action: str) -> tuple[str, dict[str, Any]]:
    with Session(hub.state.db.engine) as s:
        row = s.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
        ).first()
    assert row is not None, action
    return row.outcome, orjson.loads(row.details_json)


def test_release_freeze_covers_traffic_rollback_and_undeploy(
    fleet_hub_factory: Any, sample_onnx: Path
) -> None:
    freeze = _Freeze()
    hub: FleetHub = fleet_hub_factory(freeze)
    push_versions(hub, sample_onnx, "fraud-model", 3)
    md = hub.md()

    def split(env: str, *pairs: tuple[int, int]) -> dp.SetTrafficRequest:
        return dp.SetTrafficRequest(
            name="fraud", environment=env,
            split=[dp.TrafficSplit(model_version=v, percent=p) for v, p in pairs],
        )  # fmt: skip

    deploy = dp.DeployRequest(
        name="fraud", environment="production", model_name="fraud-model", model_version=1
    )
    hub.deployments.Deploy(deploy, metadata=md)
    hub.deployments.SetTraffic(split("production", (1, 90), (2, 10)), metadata=md)
    outcome, details = _last_audit(hub, "Deployments.SetTraffic")
    assert (outcome, details["policy"]) == ("ok", "allowed")
    assert [(p.kind, p.introduces) for p in freeze.asked] == [
        ("deploy", {1}),
        ("traffic", {2}),
    ]

    freeze.frozen = True
    freeze.asked.clear()
    get = dp.GetDeploymentRequest(name="fraud", environment="production")
    before = hub.deployments.GetDeployment(get, metadata=md)
    refused = {
        "Deployments.SetTraffic": lambda: hub.deployments.SetTraffic(
            split("production", (1, 50), (2, 50)), metadata=md
        ),
        "Deployments.Rollback": lambda: hub.deployments.Rollback(
            dp.RollbackRequest(name="fraud", environment="production"), metadata=md
        ),
        "Deployments.Undeploy": lambda: hub.deployments.Undeploy(
            dp.UndeployRequest(name="fraud", environment="production"), metadata=md
        ),
    }
    for action, call in refused.items():
        err = _error(call)
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (action, err.details())
        assert "promotion policy: release freeze" in err.details()
        assert hub.deployments.GetDeployment(get, metadata=md) == before, action
        outcome, details = _last_audit(hub, action)
        assert (outcome, details["policy"], details["code"]) == (
            "error",
            "denied",
            "PERMISSION_DENIED",
        )
    # A split that brings in a version not served yet is a promotion; the others are asked
    # too, and say what they would change.
    err = _error(lambda: hub.deployments.SetTraffic(split("production", (3, 100)), metadata=md))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [(p.kind, p.served, p.introduces, p.spec.active) for p in freeze.asked] == [
        ("traffic", {1, 2}, set(), True),
        ("rollback", {1, 2}, set(), True),
        ("undeploy", {1, 2}, set(), False),
        ("traffic", {1, 2}, {3}, True),
    ]
    assert hub.deployments.GetDeployment(get, metadata=md) == before

    # Environments that are not guarded are not the policy's business, frozen or not.
    freeze.asked.clear()
    staging = dp.DeployRequest(
        name="fraud", environment="staging", model_name="fraud-model", model_version=1
    )
    hub.deployments.Deploy(staging, metadata=md)
    hub.deployments.SetTraffic(split("staging", (1, 50), (3, 50)), metadata=md)
    hub.deployments.Undeploy(dp.UndeployRequest(name="fraud", environment="staging"), metadata=md)
    assert freeze.asked == []
    outcome, details = _last_audit(hub, "Deployments.Undeploy")
    assert outcome == "ok" and "policy" not in details

    # Policy lifted: the rollback goes through and its audit row says it was allowed.
    freeze.frozen = False
    back = hub.deployments.Rollback(
        dp.RollbackRequest(name="fraud", environment="production"), metadata=md
    )
    assert _versions(back) == [(1, 100)]
    outcome, details = _last_audit(hub, "Deployments.Rollback")
    assert (outcome, details["policy"], details["kind"]) == ("ok", "allowed", "rollback")
