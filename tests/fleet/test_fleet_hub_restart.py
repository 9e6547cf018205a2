"""A restarted hub keeps its agents: `hub serve` asks for the agent port it bound last time,
and when that port is taken meanwhile, agents find the new one through the hub's main port
(Auth.GetHubInfo over the pinned TLS), update their identity and serve and report again."""

from __future__ import annotations

import socket
import threading
import time

import orjson
import pytest

from modelfleet.agent.node.enrol import DataDir
from tests.fleet.conftest import EnrolAgent
from tests.fleet.fleethelp import Admin, AgentProcess, HubProcess, wait_for

SETTLE_S = 45.0


def _reports(admin: Admin, agent: AgentProcess, version: int, after: float) -> bool:
    info = admin.agent(agent.agent_id)
    loaded = {(v.deployment, v.model_version, v.state) for v in info.last_heartbeat.loaded}
    fresh = info.last_heartbeat.time.seconds > after
    return info.state == "online" and fresh and ("fraud", version, "ready") in loaded


class _Squatter:
    """Another program on a port: it accepts connections and drops them at once."""

    def __init__(self, port: int) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen()
        self._socket.settimeout(0.1)
        self._open = True
        self._thread = threading.Thread(target=self._drop, daemon=True)
        self._thread.start()

    def _drop(self) -> None:
        while self._open:
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            connection.close()

    def close(self) -> None:
        self._open = False
        self._thread.join(5)
        self._socket.close()


def _identity(agent: AgentProcess) -> dict[str, object]:
    return dict(orjson.loads((agent.data_dir / "identity.json").read_bytes()))


@pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)
def test_agents_follow_the_hub_across_restarts(
    hub: HubProcess, admin: Admin, enrol_agent: EnrolAgent
) -> None:
    agent = enrol_agent("a", "staging").start()
    first_port = hub.agent_port
    assert _identity(agent)["agent_port"] == first_port
    admin.deploy("fraud", "staging", "credit", 1)
    wait_for(lambda: agent.serving("fraud", "1"), SETTLE_S, "v1 serving")

    # A plain restart (no MODELFLEET_HUB_AGENT_PORT): the hub binds the port it saved.
    hub.stop()
    hub.start(agent_port="0")
    assert hub.agent_port == first_port
    admin = hub.admin()
    restarted = time.time()
    wait_for(lambda: _reports(admin, agent, 1, restarted), SETTLE_S, "reports after restart")

    # The saved port is taken while the hub is down: the hub binds another one, with a
    # warning, and the agent (refused on the old port) asks the main port and follows.
    hub.stop()
    squatter = _Squatter(first_port)
    try:
        hub.start(agent_port="0")
        assert hub.agent_port != first_port
        log = (hub.root / "hub.log").read_text()
        assert f"agent port {first_port} (saved by the last start) is in use" in log
        admin = hub.admin()
        admin.traffic("fraud", "staging", {2: 100})
        wait_for(lambda: agent.serving("fraud", "2"), SETTLE_S, "v2 after the port moved")
        moved = time.time()
        wait_for(lambda: _reports(admin, agent, 2, moved), SETTLE_S, "reports after the move")
        identity = _identity(agent)
        assert identity["agent_port"] == hub.agent_port
        assert identity["agent_target"] == f"127.0.0.1:{hub.agent_port}"
        assert "the hub's agent port moved from" in agent.log()
        assert DataDir(agent.data_dir).load().agent_port == hub.agent_port

        # The agent restarts straight onto the new port, and the hub keeps it next time.
        agent.stop()
        agent.start()
        assert agent.serving("fraud", "2")
        second_port = hub.agent_port
        hub.stop()
    finally:
        squatter.close()
    hub.start(agent_port="0")
    assert hub.agent_port == second_port
    admin = hub.admin()
    again = time.time()
    wait_for(lambda: _reports(admin, agent, 2, again), SETTLE_S, "reports on the kept port")
