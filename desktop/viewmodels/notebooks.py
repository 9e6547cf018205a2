"""The Notebooks page's state: JupyterLab servers started for the current hub and workspace.

Each server gets its own API key (the signed-in person's role in the workspace, expiring
after `KEY_TTL`), handed to it through its environment and revoked when it is stopped
here. Servers stop with the app (`shutdown`); a key left by a crash simply expires.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from modelfleet.client import HubClient
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.notebooks import HubAccess, NotebookLauncher, NotebookServer
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import TaskWorker, WorkerSlot

KEY_TTL = timedelta(hours=12)
# Key names are slugs: the host name lowercased, other characters replaced.
_HOST = re.sub(r"[^a-z0-9_.-]+", "-", socket.gethostname().lower()).strip("-.")[:32] or "host"


class NotebooksViewModel(QObject):
    serversChanged = Signal(list)  # list[NotebookServer]
    started = Signal(object)  # NotebookServer: the page opens it in the browser
    busyChanged = Signal(bool)
    statusChanged = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        session: SessionViewModel,
        launcher: NotebookLauncher | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.launcher = launcher or NotebookLauncher()
        self.servers: list[NotebookServer] = []
        self._start_slot = WorkerSlot(self)
        self._stop_slot = WorkerSlot(self)
        self.failed.connect(session.errorRaised)

    @property
    def can_start(self) -> bool:
        session = self.session
        return bool(session.signed and session.workspace and session.permissions.grantable_roles())

    def refresh(self) -> None:
        self.servers = self.launcher.running()
        self.serversChanged.emit(self.servers)

    def start(self, root_dir: Path) -> None:
        """Start JupyterLab in `root_dir`, connected to the current hub and workspace."""
        signed, ws = self.session.signed, self.session.workspace
        roles = self.session.permissions.grantable_roles()
        if signed is None or not ws or not roles:
            self.failed.emit("Notebooks: sign in and choose a workspace first")
            return
        hub, hub_ca = signed.profile.hub, signed.profile.hub_ca
        if not hub or not hub_ca:
            self.failed.emit("Notebooks: this connection profile has no hub address or CA")
            return
        role, launcher = roles[-1], self.launcher

        def start(client: HubClient, token: CancelToken, _p: Progress) -> NotebookServer:
            stamp = datetime.now(UTC)
            created = client.create_api_key(
                f"notebook-{_HOST}-{stamp:%Y%m%d-%H%M%S}", role,
                expires_at=stamp + KEY_TTL, workspace=ws,
            )  # fmt: skip
            access = HubAccess(hub, hub_ca, ws, created.secret, created.key.id)
            try:
                return launcher.start(root_dir, access, token)
            except BaseException:
                client.revoke_api_key(created.key.id, workspace=ws)
                raise

        self.busyChanged.emit(True)
        self.statusChanged.emit(f"Starting JupyterLab in {root_dir}…")
        self.session.run(
            self._start_slot, "start notebook server", start, self._on_started, self._on_failed
        )

    def _on_started(self, server: NotebookServer) -> None:
        self.busyChanged.emit(False)
        self.statusChanged.emit(f"JupyterLab runs at {server.address} for {server.workspace}.")
        self.refresh()
        self.started.emit(server)

    def _on_failed(self, message: str) -> None:
        self.busyChanged.emit(False)
        self.statusChanged.emit("")
        self.failed.emit(message)
        self.refresh()

    def stop(self, server: NotebookServer) -> None:
        """Stop the server (and its kernels) and revoke its API key."""
        launcher = self.launcher

        def stop_only() -> NotebookServer:
            launcher.stop(server.pid)
            return server

        def stop(client: HubClient, _t: CancelToken, _p: Progress) -> NotebookServer:
            stop_only()
            if server.api_key_id:
                client.revoke_api_key(server.api_key_id, workspace=server.workspace)
            return server

        def done(stopped: NotebookServer) -> None:
            self.statusChanged.emit(f"Stopped the server at {stopped.address}.")
            self.refresh()

        if self.session.signed is None:
            # Signed out meanwhile: stop it anyway; its key expires on its own.
            worker = TaskWorker("stop notebook server", lambda _t, _p: stop_only())
            worker.succeeded.connect(done)
            worker.failed.connect(self._on_failed)
            self._stop_slot.start(worker)
            return
        self.session.run(self._stop_slot, "stop notebook server", stop, done, self._on_failed)

    def shutdown(self) -> None:
        """Stop every server now (the app is quitting); their keys expire on their own."""
        self._start_slot.cancel()
        self._stop_slot.cancel()
        self.launcher.stop_all()
