"""Run under Xvfb by test_screenshots.py: open the app with data and save a PNG of each page."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from feeds import history, simulated_agent
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from modelfleet.desktop.app import build_desktop
from modelfleet.desktop.series import TIME
from modelfleet.desktop.services.metrics import AgentEndpoint
from modelfleet.desktop.widgets.theme import apply_theme

# Pages whose screenshots need a hub with data: test_home_screenshots.py and
# test_alerts_screenshots.py (alerts, notebooks) and test_signin_screenshots.py (audit, admin)
# save them.
WITH_HUB_DATA = (
    "home",
    "experiments",
    "models",
    "deployments",
    "alerts",
    "audit",
    "admin",
    "notebooks",
)


def spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(out_dir: Path, agent_address: str, token_file: str) -> int:
    app = QApplication(sys.argv[:1])
    assert app.platformName() == "xcb", app.platformName()
    apply_theme(app)
    desktop = build_desktop([AgentEndpoint(agent_address, Path(token_file))], interval_ms=200)
    desktop.window.resize(1280, 800)
    desktop.window.show()
    for i in range(3):
        desktop.monitoring.add_stream(f"sim-{i}", simulated_agent(f"sim-{i}", models=1, hz=5))
    spin(2500)
    first = desktop.monitoring.series_keys()[0]
    start = desktop.monitoring.series(first).buffer.column(TIME)[0]
    desktop.monitoring.merge_history(history(first.agent, first.model, 3000, end=start))
    spin(1500)
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, spec in enumerate(desktop.shell.pages):
        if spec.key in WITH_HUB_DATA:
            continue
        desktop.shell.select(index)
        spin(300)
        path = out_dir / f"{index + 1:02d}-{spec.key}.png"
        assert desktop.window.grab().save(str(path)), path
        print(path)
    desktop.shutdown()
    time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
