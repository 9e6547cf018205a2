"""Durability with real processes: a hub outage during which an agent keeps serving, is
killed with SIGKILL and restarts from local state alone, then delivers every audit event and
roll-up exactly once; SIGKILL in the middle of a pull; a corrupted cached artifact is never
served; a network cut between agent and hub through a TCP proxy the test controls.

The outage here lasts ~15 s (not the 60 s of the product target) to keep the suite short;
nothing in the agent depends on the length, only the outbox cap does.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelfleet.client._artifacts import file_sha256
from tests.fleet.bigmodel import write_big_model
from tests.fleet.conftest import EnrolAgent
from tests.fleet.fleethelp import Admin, AgentProcess, HubProcess, TcpProxy, route_through, wait_for
from tests.fleet.hubdb import agent_audit_seqs, rollup_count

SETTLE_S = 45.0  # covers the agent's reconnect back-off after an outage


def _traffic(agent: AgentProcess, seconds: float) -> int:
    served = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, _ = agent.infer("fraud")
        assert status == 200
        served += 1
        time.sleep(0.01)
    return served


def test_hub_outage_and_agent_kill9_lose_and_duplicate_nothing(
    hub: HubProcess, admin: Admin, enrol_agent: EnrolAgent
) -> None:
    agent = enrol_agent("a", "production").start()
    admin.deploy("fraud", "production", "credit", 1)
    wait_for(lambda: agent.serving("fraud", "1"), SETTLE_S, "v1 serving")
    _traffic(agent, 2.5)
    wait_for(lambda: agent.outbox()[0] == 0, SETTLE_S, "the outbox to drain")

    hub.kill()
    _traffic(agent, 5.0)
    agent.kill9()
    agent.start()  # no hub: it must serve again from its own state and artifact cache
    assert agent.serving("fraud", "1")
    _traffic(agent, 5.0)
    pending, _ = agent.outbox()
    assert pending > 0

    hub.start()
    wait_for(lambda: agent.outbox()[0] == 0, SETTLE_S, "the outbox to reach the hub")
    _, last_seq = agent.outbox()
    audits = agent_audit_seqs(hub.db_url, agent.agent_id)
    rollups = rollup_count(hub.db_url, agent.agent_id)
    assert len(audits) == len(set(audits)), "an audit event was stored twice"
    # Every seq the agent ever assigned is stored exactly once, as an audit row or a roll-up.
    assert len(audits) + rollups == last_seq
    assert rollups >= 4


@pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)
def test_kill9_mid_pull_corrupt_cache_and_network_cut(
    hub: HubProcess, admin: Admin, enrol_agent: EnrolAgent, tmp_path: Path
) -> None:
    big = write_big_model(tmp_path / "big" / "model.onnx")
    version = admin.client.push_model(big, "credit").version
    sha = file_sha256(big)
    proxy = TcpProxy(hub.agent_port)
    try:
        agent = enrol_agent("k", "production", grace_s=5.0)
        route_through(agent.data_dir, proxy)
        agent.start()
        admin.deploy("fraud", "production", "credit", 1)
        wait_for(lambda: agent.serving("fraud", "1"), SETTLE_S, "v1 serving")

        # SIGKILL as soon as the pull of the 50 MB version has started.
        admin.traffic("fraud", "production", {version: 100})
        partial = agent.data_dir / "artifacts" / f"{sha}.partial"
        cached = agent.data_dir / "artifacts" / sha / "model.onnx"
        wait_for(lambda: partial.exists() or cached.exists(), SETTLE_S, "the pull", every=0.002)
        agent.kill9()
        agent.start()
        assert agent.serving("fraud", "1")  # still the old version until the new one is ready
        wait_for(lambda: agent.serving("fraud", str(version)), SETTLE_S, "the big version")

        # A cached file that no longer matches its digest is never served, even with the hub
        # away; once the hub is reachable again the agent pulls a good copy.
        agent.stop()
        proxy.cut()
        data = bytearray(cached.read_bytes())
        data[len(data) // 2] ^= 0xFF
        cached.write_bytes(bytes(data))
        agent.start()
        # The last complete state had only the big version: nothing else may answer for it.
        status, _, body = agent.infer("fraud")
        assert status in (404, 503) and b"error" in body
        assert "has sha256" in agent.log()
        proxy.restore()
        wait_for(lambda: agent.serving("fraud", str(version)), SETTLE_S, "a fresh pull")
        assert file_sha256(cached) == sha

        # Network cut: serving goes on; a change made meanwhile arrives after the cut heals.
        proxy.cut()
        admin.traffic("fraud", "production", {1: 100})
        time.sleep(2.0)
        assert agent.serving("fraud", str(version))
        proxy.restore()
        wait_for(lambda: agent.serving("fraud", "1"), SETTLE_S, "the change after the cut")
    finally:
        proxy.close()
