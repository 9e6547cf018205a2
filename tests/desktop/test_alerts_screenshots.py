"""Screenshots of the Alerts page (alerts, rules, channels), the Monitoring page's hub history
and Drift view, and the Notebooks page with a running JupyterLab, all with data from a real
hub, under Xvfb, into docs/screenshots (this file is also the script it runs).

test_screenshots.py leaves Alerts and Notebooks to this test (they need a hub with data).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.receivers import HttpReceiver
from tests.desktop import test_signin as _signin

hub_db_url = _signin.hub_db_url

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[1] / "docs" / "screenshots"
NAMES = (
    "06-alerts.png",
    "06-alerts-rules.png",
    "06-alerts-channels.png",
    "05-monitoring-history.png",
    "05-monitoring-drift.png",
    "09-notebooks.png",
)


@pytest.fixture
def hub_env() -> dict[str, str]:
    return {
        "MODELFLEET_HUB_ALERT_EVAL_INTERVAL": "0.2",
        "MODELFLEET_HUB_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
    }


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver()
    http.start()
    try:
        yield http
    finally:
        http.stop()


def test_alerts_history_drift_and_notebooks_screenshots(
    running_hub, receiver: HttpReceiver, tmp_path: Path
) -> None:
    from PySide6.QtGui import QImage
    from xvfb import xcb_env, xvfb

    with xvfb() as display:
        result = subprocess.run(
            [sys.executable, __file__, str(SCREENSHOTS), running_hub.address,
             str(running_hub.ca_pem), running_hub.ca_fingerprint, running_hub.admin_password,
             str(tmp_path / "app"), receiver.url("")],
            env=xcb_env(display, PYTHONPATH=f"{HERE}:{HERE.parents[1]}",
                        MODELFLEET_DATA_DIR=str(tmp_path / "app")),
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    saved = [Path(line) for line in result.stdout.split() if line.endswith(".png")]
    assert [p.name for p in saved] == list(NAMES)
    for path in saved:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1280, 800), path
        colours = {image.pixel(x, y) for x in range(0, 1280, 8) for y in range(0, 800, 8)}
        assert len(colours) > 5, path


def _populate(address: str, ca_file: str, password: str, data: Path, receiver: str) -> None:
    """Rules, channels, a deployment, two hours of roll-ups, drift windows, a firing alert."""
    from datetime import UTC, datetime

    from hub_seed import (
        DEPLOYMENT,
        ENVIRONMENT,
        FEATURES,
        MODEL,
        SeedAgent,
        drift_events,
        rollup,
        rollup_history,
    )

    from modelfleet.agent.node.sample import write_sample_model
    from modelfleet.client import ClientSettings, EmailSettings, HubClient
    from tests.alerts.alerthelp import HOOK_SECRET, SLACK_PATH

    settings = ClientSettings(hub=address, hub_ca=ca_file, workspace="default")
    with HubClient.connect(settings) as client:
        client.login("admin", password)
        model = write_sample_model(data / "models", MODEL, n_features=len(FEATURES))
        client.push_model(model / "model.onnx", MODEL, feature_names=FEATURES)
        client.deploy(DEPLOYMENT, ENVIRONMENT, MODEL, version=1, reason="first release")
        client.create_channel("ops-webhook", "webhook", url=f"{receiver}/hook", secret=HOOK_SECRET)
        client.create_channel("oncall-slack", "slack", secret=f"{receiver}{SLACK_PATH}")
        client.create_channel(
            "oncall-mail", "email", secret="smtp-password",
            email=EmailSettings("127.0.0.1", ("oncall@example.com",),
                                "alerts@example.com", username="alerts"),
        )  # fmt: skip
        scope = {"environment": ENVIRONMENT, "deployment": DEPLOYMENT}
        client.create_rule("slow-fraud", "latency_p95", ">", 0.05, window_seconds=60,
                           severity="critical", channels=["ops-webhook", "oncall-slack"],
                           description="p95 above 50 ms: check CPU", **scope)  # fmt: skip
        client.create_rule("fraud-errors", "error_rate", ">", 0.02, for_seconds=120,
                           window_seconds=300, min_samples=50, channels=["oncall-mail"],
                           **scope)  # fmt: skip
        client.create_rule("fraud-drift", "drift_share", ">=", 0.5, window_seconds=600,
                           channels=["oncall-slack"], **scope)  # fmt: skip
        client.create_rule("agent-silent", "agent_silent_seconds", ">", 120, severity="info")
        agent = SeedAgent(address, Path(ca_file), client)
        end = datetime.now(UTC)
        agent.send(rollup_history(2.0, end) + drift_events(24, end))
        agent.send([rollup(datetime.now(UTC), 180, 0.21)])
        agent.close()


def main(
    out_dir: Path, address: str, ca_file: str, fingerprint: str, password: str, data: Path,
    receiver: str,
) -> int:  # fmt: skip
    from PySide6.QtWidgets import QApplication
    from screenshot_app import spin

    from modelfleet.client import FileStore, Profile
    from modelfleet.desktop.app import build_desktop
    from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
    from modelfleet.desktop.widgets import notebooks_page
    from modelfleet.desktop.widgets.alerts_page import AlertsPage
    from modelfleet.desktop.widgets.monitoring_page import MonitoringPage
    from modelfleet.desktop.widgets.notebooks_page import NotebooksPage
    from modelfleet.desktop.widgets.theme import apply_theme

    data.mkdir(parents=True, exist_ok=True)
    _populate(address, ca_file, password, data, receiver)
    notebooks_page.open_in_browser = lambda url: True  # no browser under Xvfb
    app = QApplication(sys.argv[:1])
    assert app.platformName() == "xcb", app.platformName()
    apply_theme(app)
    service = HubSessionService(FileStore(data / "credentials.json"))
    desktop = build_desktop(session_service=service, profiles=ProfileBook(data / "profiles"))
    desktop.window.resize(1280, 800)
    desktop.window.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def save(name: str) -> None:
        spin(400)
        path = out_dir / name
        assert desktop.window.grab().save(str(path)), path
        saved.append(path)

    def until(check: object, what: str) -> None:
        for _ in range(600):
            if check():  # type: ignore[operator]
                return
            spin(50)
        raise TimeoutError(what)

    session = desktop.session
    session.book.save("team", Profile(hub=address, hub_ca=fingerprint))
    session.sign_in("team", address, "admin", password)
    until(lambda: session.signed is not None and session.workspaces, "sign-in")

    # Alerts: the firing alert acknowledged, selected with its history.
    alerts = desktop.alerts
    desktop.shell.select_key("alerts")
    page = desktop.window.page(5)
    assert isinstance(page, AlertsPage)

    def firing() -> bool:
        alerts.refresh_alerts()
        spin(300)
        return any(a.state == "firing" for a in alerts.alerts)

    until(firing, "a firing alert")
    alerts.acknowledge(alerts.alerts[0], "GC pauses on node seed-1, scaling out")
    spin(800)
    page.alerts_table.selectRow(0)
    save("06-alerts.png")
    page.tabs.setCurrentIndex(1)
    page.rules_table.selectRow(0)
    page.edit_rule()
    save("06-alerts-rules.png")
    page.tabs.setCurrentIndex(2)
    page.channels_table.selectRow([c.name for c in alerts.channels].index("ops-webhook"))
    page.test_channel()
    until(lambda: "delivered" in page.test_label.text(), "a test send")
    spin(800)
    save("06-alerts-channels.png")

    # Monitoring: last hour from the hub, then the Drift view with a drifted cell open.
    desktop.shell.select_key("monitoring")
    monitoring = desktop.window.page(4)
    assert isinstance(monitoring, MonitoringPage)
    panel = monitoring.history()
    monitoring.tabs.setCurrentIndex(1)
    until(lambda: panel.target_combo.count() > 0, "the deployments")
    panel.load()
    until(lambda: desktop.history.history is not None and desktop.history.drift, "history")
    save("05-monitoring-history.png")
    panel.tabs.setCurrentIndex(1)
    spin(300)
    desktop.history.select_cell(0, len(desktop.history.drift.windows) - 3)
    save("05-monitoring-drift.png")

    # Notebooks: a running JupyterLab for the workspace.
    desktop.shell.select_key("notebooks")
    folder = data / "notebooks"
    folder.mkdir()
    notebooks = desktop.window.page(8)
    assert isinstance(notebooks, NotebooksPage)
    notebooks.folder_edit.setText(str(folder))
    notebooks.start()
    until(lambda: desktop.notebooks.servers, "JupyterLab")
    save("09-notebooks.png")
    for path in saved:
        print(path)
    desktop.shutdown()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(Path(args[0]), args[1], args[2], args[3], args[4], Path(args[5]), args[6]))
