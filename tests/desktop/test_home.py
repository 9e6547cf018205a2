"""The Home page against a real hub and agents: fleet health, a deployment's traffic and
latency sparklines from the hub's roll-ups (polled on a worker), alerts, recent activity."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from modelfleet.client._fleet import MetricsPoint
from modelfleet.desktop.app import Desktop
from modelfleet.desktop.services.home_view import traffic_of
from modelfleet.desktop.widgets.home_page import HomePage
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_deployments import fleet
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in
from tests.fleet.fleethelp import AgentProcess, wait_for

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir
__all__ = ["fleet"]


def _point(second: int, version: int, requests: int, p95: float) -> MetricsPoint:
    return MetricsPoint(datetime.fromtimestamp(second, UTC), version, requests, 0, 0, p95, 0)


def test_traffic_sums_versions_per_step_and_weights_latency() -> None:
    points = [_point(100, 1, 30, 0.010), _point(100, 2, 10, 0.030), _point(110, 1, 0, 0.5)]
    traffic = traffic_of(points, step_s=10)
    assert list(traffic.time) == [100.0, 110.0]
    assert np.allclose(traffic.rps, [4.0, 0.0])
    assert np.allclose(traffic.p95_ms, [15.0, 0.0])  # (30*10 + 10*30) / 40 ms; idle step 0
    assert traffic.latest == "0.0 req/s · p95 0.0 ms"
    assert traffic_of([], 10).latest == "no traffic yet"


def test_home_shows_fleet_health_live_traffic_alerts_and_activity(
    running_hub: RunningHub, fleet: list[AgentProcess], desktop: Desktop, qtbot
) -> None:
    staging = fleet[0]
    with admin_client(running_hub, "default") as client:
        client.deploy("credit", "staging", "credit", version=1, workspace="default")
    wait_for(lambda: staging.serving("credit", "1"), 45, "v1 served")
    for _ in range(30):
        assert staging.infer("credit")[0] == 200
    vm = desktop.home
    page = desktop.window.page(0)
    assert isinstance(page, HomePage)
    desktop.shell.select_key("home")
    vm._timer.setInterval(500)  # poll quickly: roll-ups arrive every 2 s
    sign_in(desktop, qtbot, running_hub)

    def has_traffic() -> bool:
        snap = vm.snapshot
        traffic = snap.traffic.get("credit@staging") if snap else None
        return traffic is not None and float(traffic.rps.sum()) > 0

    qtbot.waitUntil(has_traffic, timeout=TIMEOUT_MS * 3)
    snap = vm.snapshot
    assert (snap.online, snap.offline, len(snap.deployments)) == (2, 0, 1)
    assert (page.online_label.text(), page.deployed_label.text()) == ("2", "1")
    label, rps, p95 = page._rows["credit@staging"]
    assert "credit v1" in label.text() and "req/s" in label.text()
    assert rps.curve.yData is not None and rps.curve.yData.sum() > 0
    assert p95.curve.yData is not None and p95.curve.yData.max() > 0
    assert page.alerts_list.item(0).text() == "Nothing firing."
    activity = [page.activity_list.item(i).text() for i in range(page.activity_list.count())]
    assert any("Deploy" in line for line in activity), activity
    # Polling keeps going on its worker; shutting the desktop down stops the timer.
    before = vm.snapshot
    qtbot.waitUntil(lambda: vm.snapshot is not before, timeout=TIMEOUT_MS)
