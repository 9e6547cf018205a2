"""Screenshots of Home, Experiments, Models and Deployments with data from a real hub and
agents, under Xvfb, into docs/screenshots (this file is also the script it runs).

test_screenshots.py leaves these four pages to this test (they need a hub with data).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_deployments import fleet
from tests.desktop.test_experiments import seed_experiments
from tests.desktop.test_models_page import seed_models
from tests.desktop.test_signin import admin_client
from tests.fleet.fleethelp import AgentProcess, wait_for

hub_db_url = _signin.hub_db_url
__all__ = ["fleet"]

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[1] / "docs" / "screenshots"
NAMES = ("01-home.png", "02-experiments.png", "03-models.png", "04-deployments.png")


def test_home_experiments_models_and_deployments_screenshots(
    running_hub: RunningHub, fleet: list[AgentProcess], tmp_path: Path
) -> None:
    from PySide6.QtGui import QImage
    from xvfb import xcb_env, xvfb

    staging = fleet[0]
    with admin_client(running_hub, "default") as client:
        seed_experiments(client, runs=6)
        seed_models(client, tmp_path / "models")
        client.deploy("credit", "staging", "credit", version=1, workspace="default")
        wait_for(lambda: staging.serving("credit", "1"), 45, "v1 served")
        client.set_traffic("credit", "staging", [(1, 80), (2, 20)], workspace="default")
        client.deploy("credit", "production", "credit", version=1, workspace="default")
    # Traffic keeps flowing while the app runs, so the sparklines have a curve to draw.
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.05):
            staging.infer("credit")

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        with xvfb() as display:
            result = subprocess.run(
                [sys.executable, __file__, str(SCREENSHOTS), running_hub.address,
                 running_hub.ca_fingerprint, running_hub.admin_password, str(tmp_path / "app")],
                env=xcb_env(display, PYTHONPATH=f"{HERE}:{HERE.parents[1]}",
                            MODELFLEET_DATA_DIR=str(tmp_path / "app")),
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
    finally:
        stop.set()
        sender.join(10)
    assert result.returncode == 0, result.stderr
    saved = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in saved] == list(NAMES)
    for path in saved:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1280, 800), path
        colours = {image.pixel(x, y) for x in range(0, 1280, 8) for y in range(0, 800, 8)}
        assert len(colours) > 5, path


def main(out_dir: Path, address: str, fingerprint: str, password: str, data_dir: Path) -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication
    from screenshot_app import spin

    from modelfleet.client import FileStore, Profile
    from modelfleet.desktop.app import build_desktop
    from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
    from modelfleet.desktop.widgets.theme import apply_theme
    from tests.desktop.test_experiments import _select

    app = QApplication(sys.argv[:1])
    assert app.platformName() == "xcb", app.platformName()
    apply_theme(app)
    service = HubSessionService(FileStore(data_dir / "credentials.json"))
    book = ProfileBook(data_dir / "profiles")
    book.save("team", Profile(hub=address, hub_ca=fingerprint))
    desktop = build_desktop(session_service=service, profiles=book)
    desktop.home._timer.setInterval(1000)
    desktop.window.resize(1280, 800)
    desktop.window.show()
    desktop.session.sign_in("team", address, "admin", password)
    while desktop.session.signed is None or not desktop.session.workspaces:
        spin(50)
    out_dir.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> None:
        path = out_dir / name
        assert desktop.window.grab().save(str(path)), path
        print(path)

    desktop.shell.select_key("home")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        desktop.home.snapshot is None
        or max((len(t.time) for t in desktop.home.snapshot.traffic.values()), default=0) < 3
    ):
        spin(200)
    spin(500)
    save(NAMES[0])

    desktop.shell.select_key("experiments")
    page = desktop.window.page
    experiments = desktop.experiments
    while experiments.model.rowCount() < 7:
        spin(50)
    model = experiments.model
    gbm = [i for i in range(model.rowCount()) if model.run(i).name.startswith("gbm-")]
    _select(page(1), gbm[:3])
    while experiments.chart.data is None or len(experiments.chart.data.curves) < 3:
        spin(50)
    page(1).chart.metric_combo.setCurrentText("loss")
    while experiments.chart.data.key != "loss" or len(experiments.chart.data.curves) < 3:
        spin(50)
    experiments.compare()
    while experiments.comparison is None:
        spin(50)
    page(1).tabs.setCurrentIndex(0)
    spin(500)
    save(NAMES[1])

    desktop.shell.select_key("models")
    models = desktop.models
    while not page(2).models_list.findItems("credit-risk", Qt.MatchFlag.MatchExactly):
        spin(50)
    item = page(2).models_list.findItems("credit-risk", Qt.MatchFlag.MatchExactly)[0]
    page(2).models_list.setCurrentItem(item)
    while len(models.versions) < 2:
        spin(50)
    page(2).versions_table.selectRow(0)
    while models.detail is None:
        spin(50)
    page(2).tabs.setCurrentIndex(1)
    page(2).feature_combo.setCurrentIndex(1)
    spin(500)
    save(NAMES[2])

    desktop.shell.select_key("deployments")
    deployments = desktop.deployments
    while len(deployments.deployments) < 2:
        spin(50)
    row = next(i for i, d in enumerate(deployments.deployments) if d.environment == "staging")
    page(3).table.selectRow(row)
    while not deployments.events:
        spin(50)
    spin(500)
    save(NAMES[3])
    desktop.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])))
