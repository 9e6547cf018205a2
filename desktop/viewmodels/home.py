"""The Home page's state: one snapshot of the workspace, re-polled on a timer while signed in.

Each poll is one worker task (agents, deployments, their roll-ups, alerts, activity); a
poll still running when the next tick comes is left to finish rather than restarted.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from modelfleet.client import HubClient
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.home_view import HomeSnapshot, collect_home
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

POLL_MS = 5000


class HomeViewModel(QObject):
    snapshotChanged = Signal(object)  # HomeSnapshot | None
    failed = Signal(str)

    def __init__(
        self, session: SessionViewModel, poll_ms: int = POLL_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.snapshot: HomeSnapshot | None = None
        self._slot = WorkerSlot(self)
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    def reload(self, _workspace: str = "") -> None:
        self._slot.cancel()
        self.snapshot = None
        self.snapshotChanged.emit(None)
        if self.session.permissions.signed_in:
            self.poll()
            self._timer.start()
        else:
            self._timer.stop()

    def poll(self) -> None:
        current = self._slot.current
        if current is not None and current.isRunning():
            return
        ws, read_audit = self.session.workspace, self.session.permissions.read_audit

        def fetch(client: HubClient, token: CancelToken, _p: Progress) -> HomeSnapshot:
            return collect_home(client, ws, read_audit, token)

        self.session.run(self._slot, "home", fetch, self._on_snapshot, self.failed.emit)

    def _on_snapshot(self, snapshot: HomeSnapshot) -> None:
        self.snapshot = snapshot
        self.snapshotChanged.emit(snapshot)

    def shutdown(self) -> None:
        self._timer.stop()
        self._slot.cancel()
