"""Rule evaluation over real roll-ups and agents: minimum samples, extra series, silent agents,
and the state machine's edges."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from modelfleet.agent.hub.alerts.evaluator import next_state
from modelfleet.agent.hub.alerts.rules import check_spec
from modelfleet.agent.hub.db.fleet_models import Agent
from modelfleet.proto.v1 import alerts_pb2
from tests.alerts.alerthelp import alerts_of, create_rule, wait_state
from tests.alerts.conftest import AlertHub


def test_accuracy_needs_its_minimum_of_labelled_requests(alert_hub: AlertHub) -> None:
    ah = alert_hub
    create_rule(ah, name="accuracy", series="accuracy", comparator=alerts_pb2.LESS,
                threshold=0.9, min_samples=1000)  # fmt: skip
    ah.rollup(requests=5000, extra={"accuracy": 0.5, "accuracy_samples": 600})
    time.sleep(0.5)  # 600 labelled requests: the condition is unknown, nothing happens
    assert alerts_of(ah) == []
    ah.rollup(requests=5000, extra={"accuracy": 0.7, "accuracy_samples": 600})
    firing = wait_state(ah, alerts_pb2.FIRING)
    assert abs(firing.value - 0.6) < 1e-9  # weighted by labelled requests


def test_drift_share_fires_per_deployment(alert_hub: AlertHub) -> None:
    ah = alert_hub
    create_rule(ah, name="drift", series="drift_share", comparator=alerts_pb2.GREATER_OR_EQUAL,
                threshold=0.5, scope=alerts_pb2.RuleScope(environment="prod"))  # fmt: skip
    ah.rollup(deployment="churn", extra={"drift_share": 0.6})
    ah.rollup(deployment="fraud", extra={"drift_share": 0.1})
    firing = wait_state(ah, alerts_pb2.FIRING)
    assert firing.labels["deployment"] == "churn" and len(alerts_of(ah)) == 1


def test_silent_agent_fires_and_resolves_when_heard_again(alert_hub: AlertHub) -> None:
    ah = alert_hub
    create_rule(ah, name="silent", series="agent_silent_seconds", threshold=60,
                scope=alerts_pb2.RuleScope(environment="prod"))  # fmt: skip
    time.sleep(0.5)
    assert alerts_of(ah) == []  # the agent was just seen
    stale = datetime.now(UTC) - timedelta(minutes=5)
    seen = update(Agent).where(Agent.id == ah.agent_id)
    ah.hub.state.db.write_sync(lambda s: s.execute(seen.values(last_seen=stale)))
    firing = wait_state(ah, alerts_pb2.FIRING)
    assert firing.labels == {"agent": ah.agent_id, "environment": "prod", "hostname": "node-1"}
    assert firing.value >= 300
    now = datetime.now(UTC)
    ah.hub.state.db.write_sync(lambda s: s.execute(seen.values(last_seen=now)))
    wait_state(ah, alerts_pb2.RESOLVED)


def test_state_machine_edges() -> None:
    spec = check_spec(
        name="r", description="", series="error_rate", environment="", deployment="",
        agent_id="", comparator=">", threshold=0.1, resolve_threshold=0.05, for_seconds=60,
        window_seconds=0, min_samples=0, severity=0,
    )  # fmt: skip
    now = datetime.now(UTC)
    early, late = now - timedelta(seconds=30), now - timedelta(seconds=61)
    assert next_state(spec, "inactive", 0.2, None, now) == "pending"
    assert next_state(spec, "pending", 0.2, early, now) == "pending"
    assert next_state(spec, "pending", 0.2, late, now) == "firing"
    assert next_state(spec, "pending", None, late, now) == "inactive"  # unknown proves nothing
    assert next_state(spec, "firing", 0.07, None, now) == "firing"  # hysteresis band
    assert next_state(spec, "firing", None, None, now) == "firing"
    assert next_state(spec, "firing", 0.05, None, now) == "resolved"
    assert next_state(spec, "resolved", 0.09, None, now) == "resolved"
    assert next_state(spec, "resolved", 0.2, None, now) == "pending"
