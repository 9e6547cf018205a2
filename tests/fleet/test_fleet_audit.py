"""Agent audit events through a real agent's outbox read like the hub's own rows: outcome
"ok"/"error", targets "deployment:<env>/<name>" and "agent:<id>", and `modelfleet audit
query` shows the agent id beside the host name."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from modelfleet.client import AuditEvent, AuditFilter, Role
from tests.conftest import modelfleet_command
from tests.fleet.conftest import EnrolAgent
from tests.fleet.fleethelp import WORKSPACE, Admin, HubProcess, wait_for

SETTLE_S = 45.0


def _agent_rows(admin: Admin, **narrow: str) -> list[AuditEvent]:
    page = admin.client.query_audit(AuditFilter(**narrow), page_size=200, oldest_first=True)
    return [e for e in page.items if e.actor_kind == "agent"]


@pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)
def test_agent_events_use_the_hubs_words(
    hub: HubProcess, admin: Admin, enrol_agent: EnrolAgent, tmp_path: Path
) -> None:
    agent = enrol_agent("a", "staging").start()
    admin.deploy("churn", "staging", "credit", 1)
    wait_for(lambda: agent.serving("churn", "1"), SETTLE_S, "v1 serving")
    target = "deployment:staging/churn"

    def delivered() -> list[AuditEvent]:
        rows = _agent_rows(admin, outcome="ok", target=target)
        return (
            rows
            if {"Deployment.Loaded", "Deployment.TrafficSwitched"} <= {e.action for e in rows}
            else []
        )

    rows = wait_for(delivered, SETTLE_S, "the agent's deployment events through the outbox")
    assert {e.actor_id for e in rows} == {agent.agent_id}
    # The hub's own row about the same deployment uses the same target.
    assert any(e.actor_kind == "user" for e in admin.client.query_audit(
        AuditFilter(target=target)).items)  # fmt: skip
    started = _agent_rows(admin, action="Agent.Started", outcome="ok")
    assert [e.target for e in started] == [f"agent:{agent.agent_id}"]
    assert {e.outcome for e in _agent_rows(admin)} == {"ok"}

    # The CLI's table names the agent's host and its short id.
    key = admin.client.create_api_key("audit-reader", Role.ADMIN, workspace=WORKSPACE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env.update(
        MODELFLEET_HUB=hub.address,
        MODELFLEET_HUB_CA=hub.ca_fingerprint,
        MODELFLEET_API_KEY=key.secret,
        MODELFLEET_WORKSPACE=WORKSPACE,
        MODELFLEET_DATA_DIR=str(tmp_path / "cli"),
    )
    query = modelfleet_command("audit", "query", "--target", target, "--outcome", "ok")
    result = subprocess.run(query, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = [line for line in result.stdout.splitlines() if "Deployment.Loaded" in line]
    assert loaded and f"({agent.agent_id[:8]})" in loaded[0] and target in loaded[0]
    assert " ok " in loaded[0]
