"""The Deployments page against a real hub and two real enrolled agents (staging and
production): the deploy dialog's live agent preview, deploy, canary, rollback, promote and
undeploy — each destructive action confirmed with what it will do — per-agent status and
the revision timeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from modelfleet.agent.node.sample import write_sample_model
from modelfleet.client import HubClient
from modelfleet.desktop.app import Desktop
from modelfleet.desktop.widgets.deployments_page import DeploymentsPage
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_admin import Confirmations, confirmations
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in
from tests.fleet.fleethelp import AgentProcess, join, wait_for

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir
__all__ = ["confirmations", "fleet"]

FEATURES = [f"f{i:02d}" for i in range(20)]
AGENT_TIMEOUT_S = 45.0


def enrol(client: HubClient, hub: RunningHub, root: Path, env: str, labels: dict[str, str]
          ) -> AgentProcess:  # fmt: skip
    token = client.create_join_token(env, labels, workspace="default").token
    result = join(hub, token, root / env)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    return AgentProcess(root / env).start()


@pytest.fixture
def fleet(running_hub: RunningHub, tmp_path: Path) -> Iterator[list[AgentProcess]]:
    """Model "credit" v1 and v2, and one agent each in staging (zone=a) and production."""
    agents: list[AgentProcess] = []
    try:
        with admin_client(running_hub, "default") as client:
            for version in (1, 2):
                path = write_sample_model(tmp_path / "models", "credit", version, seed=version)
                client.push_model(path / "model.onnx", "credit", feature_names=FEATURES)
            agents.append(enrol(client, running_hub, tmp_path, "staging", {"zone": "a"}))
            agents.append(enrol(client, running_hub, tmp_path, "production", {"zone": "a"}))
            wait_for(lambda: all(a.state == "online" for a in client.list_agents(
                workspace="default")), 30, "agents online")  # fmt: skip
        yield agents
    finally:
        for agent in agents:
            agent.stop()


def _page(desktop: Desktop) -> DeploymentsPage:
    page = desktop.window.page(3)
    assert isinstance(page, DeploymentsPage)
    return page


def _wait_deployment(qtbot, desktop: Desktop, check) -> None:
    """Reload until the selected deployment satisfies `check` (agents apply in seconds)."""
    vm = desktop.deployments
    deadline = time.monotonic() + AGENT_TIMEOUT_S
    while vm.selected is None or not check(vm.selected):
        assert time.monotonic() < deadline, f"deployment never got there: {vm.selected}"
        qtbot.wait(300)
        with qtbot.waitSignal(vm.deploymentsChanged, timeout=TIMEOUT_MS):
            vm.reload()


def test_deploy_canary_rollback_promote_undeploy_with_confirmations(
    running_hub: RunningHub, fleet: list[AgentProcess], desktop: Desktop, qtbot,
    confirmations: Confirmations,
) -> None:  # fmt: skip
    staging_agent, _production_agent = fleet
    vm = desktop.deployments
    page = _page(desktop)
    desktop.shell.select_key("deployments")
    sign_in(desktop, qtbot, running_hub)
    qtbot.waitUntil(lambda: len(vm.agents) == 2, timeout=TIMEOUT_MS)

    # The dialog previews the agents a deployment would reach, as the selector changes.
    dialog = page.open_deploy_dialog("credit", 1)
    qtbot.waitUntil(lambda: len(vm.preview) == 1, timeout=TIMEOUT_MS)
    assert dialog.preview_label.text() == "Will reach 1 agent (1 online):"
    assert "zone=a" in dialog.preview_list.item(0).text()
    dialog.selector_edit.setText("zone=b")
    qtbot.waitUntil(lambda: dialog.preview_list.count() == 0, timeout=TIMEOUT_MS)
    assert "no agent" in dialog.preview_label.text()
    dialog.selector_edit.setText("zone=a")
    qtbot.waitUntil(lambda: dialog.preview_list.count() == 1, timeout=TIMEOUT_MS)
    # Declining the confirmation deploys nothing.
    confirmations.answer = False
    dialog.submit()
    assert confirmations.asked == ["Deploy"] and dialog.isVisible()
    confirmations.answer = True
    with qtbot.waitSignal(vm.deployed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.deploy_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=TIMEOUT_MS)
    assert page.model.rows[0][:4] == ("credit", "staging", "1", "credit v1")
    page.table.selectRow(0)
    _wait_deployment(qtbot, desktop, lambda d: [a.state for a in d.agents] == ["ready"])
    wait_for(lambda: staging_agent.serving("credit", "1"), 30, "v1 served")
    assert page.agents_model.rows[0][1:3] == ("1", "ready")

    # Canary: 20% to v2.
    page.canary_version.setValue(2)
    page.canary_slider.setValue(20)
    with qtbot.waitSignal(vm.deployed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.traffic_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked[-1] == "Set traffic"
    _wait_deployment(qtbot, desktop, lambda d: d.revision == 2)
    assert page.detail_label.text().startswith("credit in staging: revision 2, serving "
                                               "credit v1 80% / v2 20%")  # fmt: skip
    qtbot.waitUntil(lambda: page.timeline.count() == 2, timeout=TIMEOUT_MS)
    assert page.timeline.item(0).text().startswith("r2 ")

    # Roll back says where it goes, then goes there.
    qtbot.mouseClick(page.rollback_button, Qt.MouseButton.LeftButton)
    _wait_deployment(qtbot, desktop, lambda d: d.revision == 3 and len(d.targets) == 1)
    assert confirmations.asked[-1] == "Roll back"
    assert page.status_label.text() == "Rolled back 'credit' in staging (now revision 3)."

    # Promote staging -> production.
    page.promote_combo.setCurrentText("production")
    with qtbot.waitSignal(vm.deployed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.promote_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=TIMEOUT_MS)
    assert {r[1] for r in page.model.rows} == {"staging", "production"}

    # Undeploy, declined then confirmed.
    confirmations.answer = False
    qtbot.mouseClick(page.undeploy_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked[-1] == "Undeploy" and page.model.rowCount() == 2
    confirmations.answer = True
    qtbot.mouseClick(page.undeploy_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=TIMEOUT_MS)

    # A refused action is one readable sentence (a version that does not exist).
    with qtbot.waitSignal(desktop.shell.messageChanged, timeout=TIMEOUT_MS) as message:
        vm.deploy("credit", "staging", "credit", version=99)
    assert "99" in message.args[0] and "Traceback" not in message.args[0]
