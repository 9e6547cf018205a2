"""Builds the desktop app from its view-models and pages, and runs the Qt event loop."""

from __future__ import annotations

import gc
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from modelfleet.client import default_store
from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
from modelfleet.desktop.services.metrics import AgentEndpoint
from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.viewmodels.admin import AdminViewModel
from modelfleet.desktop.viewmodels.alerts import AlertsViewModel
from modelfleet.desktop.viewmodels.audit import AuditViewModel
from modelfleet.desktop.viewmodels.deployments import DeploymentsViewModel
from modelfleet.desktop.viewmodels.experiments import ExperimentsViewModel
from modelfleet.desktop.viewmodels.home import HomeViewModel
from modelfleet.desktop.viewmodels.local_mode import LocalModeViewModel, wants_local_mode
from modelfleet.desktop.viewmodels.models import ModelsViewModel
from modelfleet.desktop.viewmodels.monitoring import DEFAULT_INTERVAL_MS, MonitoringViewModel
from modelfleet.desktop.viewmodels.monitoring_history import MonitoringHistoryViewModel
from modelfleet.desktop.viewmodels.notebooks import NotebooksViewModel
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.viewmodels.shell import ShellViewModel
from modelfleet.desktop.widgets.base import Page, PlaceholderPage
from modelfleet.desktop.widgets.local_mode_bar import LocalModeBar
from modelfleet.desktop.widgets.main_window import MainWindow
from modelfleet.desktop.widgets.session_bar import SessionBar
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
    session: SessionViewModel
    session_bar: SessionBar
    admin: AdminViewModel
    audit: AuditViewModel
    experiments: ExperimentsViewModel
    models: ModelsViewModel
    deployments: DeploymentsViewModel
    home: HomeViewModel
    alerts: AlertsViewModel
    history: MonitoringHistoryViewModel
    notebooks: NotebooksViewModel

    def shutdown(self) -> None:
        """Stop pages, streams and workers; safe to call more than once."""
        self.session_bar.shutdown()
        self.window.shutdown()
        self.monitoring.shutdown()
        self.admin.shutdown()
        self.audit.shutdown()
        self.experiments.shutdown()
        self.models.shutdown()
        self.deployments.shutdown()
        self.home.shutdown()
        self.alerts.shutdown()
        self.history.shutdown()
        self.notebooks.shutdown()  # JupyterLab servers stop with the app
        self.session.shutdown()
        if not shutdown_workers():
            log.warning("some background tasks did not stop in time")


def default_token_file() -> Path:
    return user_data_dir() / "agent" / "control.token"


def _page(module: str, name: str, *args: object) -> Callable[[], Page]:
    """A page's factory: the page's module (and what it imports, e.g. pyqtgraph) is loaded
    when the page is first shown."""

    def build() -> Page:
        page: Page = getattr(importlib.import_module(f"modelfleet.desktop.widgets.{module}"), name)(
            *args
        )
        return page

    return build


def _gate_pages(shell: ShellViewModel, permissions: Permissions) -> None:
    """Grey out the pages the signed-in role may not use (the hub refuses them anyway)."""
    signed_in = "" if permissions.signed_in else "sign in to a hub first"
    shell.set_page_enabled("admin", permissions.signed_in, signed_in)
    shell.set_page_enabled(
        "audit",
        permissions.read_audit,
        signed_in or "needs the admin role in this workspace (or system admin)",
    )


def build_desktop(
    agents: Sequence[AgentEndpoint] = (),
    interval_ms: int = DEFAULT_INTERVAL_MS,
    session_service: HubSessionService | None = None,
    profiles: ProfileBook | None = None,
) -> Desktop:
    """Create view-models, pages and the main window (a QApplication must exist)."""
    shell = ShellViewModel()
    monitoring = MonitoringViewModel(interval_ms=interval_ms)
    monitoring.agentStateChanged.connect(shell.report_connection)
    monitoring.errorRaised.connect(shell.show_message)
    service = session_service or HubSessionService(default_store(announce=False))
    session = SessionViewModel(service, profiles or ProfileBook())
    session.connectionChanged.connect(shell.report_connection)
    session.errorRaised.connect(shell.show_message)
    session.permissionsChanged.connect(lambda perms: _gate_pages(shell, perms))
    admin = AdminViewModel(session)
    audit = AuditViewModel(session)
    experiments = ExperimentsViewModel(session)
    models = ModelsViewModel(session)
    # Lineage: a version's source run opens on the Experiments page.
    models.openRunRequested.connect(experiments.open_run)
    models.openRunRequested.connect(lambda _run: shell.select_key("experiments"))
    deployments = DeploymentsViewModel(session)
    home = HomeViewModel(session)
    alerts = AlertsViewModel(session)
    history = MonitoringHistoryViewModel(session)
    notebooks = NotebooksViewModel(session)
    pages: dict[str, Callable[[], Page]] = {
        "home": _page("home_page", "HomePage", home),
        "experiments": _page("experiments_page", "ExperimentsPage", experiments),
        "models": _page("models_page", "ModelsPage", models),
        "deployments": _page("deployments_page", "DeploymentsPage", deployments),
        "monitoring": _page(
            "monitoring_page", "MonitoringPage", monitoring, default_token_file(), history
        ),
        "alerts": _page("alerts_page", "AlertsPage", alerts),
        "audit": _page("audit_page", "AuditPage", audit),
        "admin": _page("admin_page", "AdminPage", admin),
        "notebooks": _page("notebooks_page", "NotebooksPage", notebooks),
    }
    for spec in shell.pages:
        if spec.key not in pages:
            pages[spec.key] = partial(PlaceholderPage, spec.title, spec.summary, spec.coming_with)
    # Monitoring is the first page with live data; Home becomes the start page with the hub.
    shell.select_key("monitoring")
    session_bar = SessionBar(session)
    window = MainWindow(shell, pages, session_bar)

    def open_deploy_dialog(model: str, version: int) -> None:
        """The Models page's "Deploy…": the deploy dialog on the Deployments page."""
        shell.select_key("deployments")
        page = window.page([spec.key for spec in shell.pages].index("deployments"))
        page.open_deploy_dialog(model, version)  # type: ignore[attr-defined]

    models.deployRequested.connect(open_deploy_dialog)
    _gate_pages(shell, session.permissions)
    for endpoint in agents:
        monitoring.add_agent(endpoint)
    return Desktop(
        window,
        shell,
        monitoring,
        session,
        session_bar,
        admin,
        audit,
        experiments,
        models,
        deployments,
        home,
        alerts,
        history,
        notebooks,
    )


def settle_heap() -> None:
    """Take what is alive once the window is built (modules, Qt wrappers, pages) out of the
    cyclic garbage collector's view, so that its full passes walk only what was allocated
    since.

    A full pass over the ~100,000 objects of a freshly built window takes 40-150 ms, with
    the interpreter lock held, on whichever thread allocated last: a worker converting a
    page of runs triggered it and stalled the GUI thread that long. Garbage already there
    is collected first, so nothing unreachable is kept.
    """
    gc.collect()
    gc.freeze()


def _local_mode(desktop: Desktop) -> LocalModeViewModel | None:
    """With no connection profile (or the local one last): a local hub and agent, stopped
    when the app quits (after the pages' workers)."""
    if not wants_local_mode(desktop.session.book):
        return None
    local = LocalModeViewModel(desktop.session, desktop.monitoring)
    desktop.window.addToolBar(LocalModeBar(local, desktop.shell))
    app = QApplication.instance()
    assert app is not None
    app.aboutToQuit.connect(local.shutdown)
    return local


def run(agents: Sequence[AgentEndpoint] = (), interval_ms: int = DEFAULT_INTERVAL_MS) -> int:
    """Open the main window and run until it closes (or SIGINT/SIGTERM); the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("modelfleet")
    app.setDesktopFileName("modelfleet")
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_theme(app))
    desktop = build_desktop(agents, interval_ms)
    settle_heap()
    app.aboutToQuit.connect(desktop.shutdown)
    # Python runs a signal handler between any two bytecodes of the GUI thread, possibly in
    # the middle of a slot that is starting a worker; quitting from there would tear the app
    # down under it. The handler only schedules the quit for the event loop.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: QTimer.singleShot(0, app.quit))
    # Python runs signal handlers only between bytecodes; this timer gives it the chance.
    wake = QTimer()
    wake.start(200)
    wake.timeout.connect(lambda: None)
    local = _local_mode(desktop)
    desktop.window.show()
    QTimer.singleShot(0, lambda: log.info("window interactive"))
    # Local mode signs in once its hub runs; else the last profile's sign-in, or the dialog.
    QTimer.singleShot(0, local.start if local is not None else desktop.session.resume)
    code = app.exec()
    wake.stop()
    if not shutdown_workers():  # any worker a last slot started after the shutdown
        log.warning("some background tasks did not stop in time")
    return int(code)
