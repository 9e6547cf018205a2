"""Builds the desktop app from its view-models and pages, and runs the Qt event loop."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from modelfleet.desktop.services.metrics import AgentEndpoint
from modelfleet.desktop.viewmodels.monitoring import DEFAULT_INTERVAL_MS, MonitoringViewModel
from modelfleet.desktop.viewmodels.shell import ShellViewModel
from modelfleet.desktop.widgets.base import Page, PlaceholderPage
from modelfleet.desktop.widgets.main_window import MainWindow
from modelfleet.desktop.widgets.monitoring_page import MonitoringPage
from modelfleet.desktop.widgets.theme import apply_theme
from modelfleet.desktop.workers import shutdown_workers
from modelfleet.paths import user_data_dir

log = logging.getLogger(__name__)


@dataclass
class Desktop:
    """The window and the view-models behind it."""

    window: MainWindow
    shell: ShellViewModel
    monitoring: MonitoringViewModel

    def shutdown(self) -> None:
        """Stop pages, streams and workers; safe to call more than once."""
        self.window.shutdown()
        self.monitoring.shutdown()
        if not shutdown_workers():
            log.warning("some background tasks did not stop in time")


def default_token_file() -> Path:
    return user_data_dir() / "agent" / "control.token"


def build_desktop(
    agents: Sequence[AgentEndpoint] = (), interval_ms: int = DEFAULT_INTERVAL_MS
) -> Desktop:
    """Create view-models, pages and the main window (a QApplication must exist)."""
    shell = ShellViewModel()
    monitoring = MonitoringViewModel(interval_ms=interval_ms)
    monitoring.agentStateChanged.connect(shell.report_connection)
    monitoring.errorRaised.connect(shell.show_message)
    pages: dict[str, Page] = {}
    for spec in shell.pages:
        if spec.key == "monitoring":
            pages[spec.key] = MonitoringPage(monitoring, default_token_file())
        else:
            pages[spec.key] = PlaceholderPage(spec.title, spec.summary, spec.coming_with)
    # Monitoring is the first page with live data; Home becomes the start page with the hub.
    shell.select_key("monitoring")
    window = MainWindow(shell, pages)
    for endpoint in agents:
        monitoring.add_agent(endpoint)
    return Desktop(window, shell, monitoring)


def run(agents: Sequence[AgentEndpoint] = (), interval_ms: int = DEFAULT_INTERVAL_MS) -> int:
    """Open the main window and run until it closes (or SIGINT/SIGTERM); the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("modelfleet")
    app.setDesktopFileName("modelfleet")
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_theme(app))
    desktop = build_desktop(agents, interval_ms)
    app.aboutToQuit.connect(desktop.shutdown)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes; this timer gives it the chance.
    wake = QTimer()
    wake.start(200)
    wake.timeout.connect(lambda: None)
    desktop.window.show()
    QTimer.singleShot(0, lambda: log.info("window interactive"))
    code = app.exec()
    wake.stop()
    return int(code)
