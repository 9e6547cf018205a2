"""The Notebooks page: start JupyterLab connected to the current hub and workspace, open it in
the browser, list the servers this app runs, stop them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QTableView,
    QVBoxLayout,
)

from modelfleet.desktop.services.notebooks import NotebookServer
from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.viewmodels.notebooks import KEY_TTL, NotebooksViewModel
from modelfleet.desktop.widgets.admin_tabs import RowsModel
from modelfleet.desktop.widgets.alerts_page import selected_row, table_view, tool_button
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.prompts import confirm
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label

ABOUT = (
    "JupyterLab runs from this app's Python environment. In a notebook, "
    "`import modelfleet; client = modelfleet.connect()` reaches the hub and workspace shown "
    "above: the address, the pinned CA and an API key made for the server (expiring after "
    f"{int(KEY_TTL.total_seconds() // 3600)} h, revoked when you stop it) are passed through "
    "the server's environment only, never written into a notebook or a file. Servers stop "
    "when the app quits."
)


def open_in_browser(url: str) -> bool:
    """The system browser; replaced by tests, which must not start one."""
    return QDesktopServices.openUrl(QUrl(url))


class NotebooksPage(Page):
    def __init__(self, vm: NotebooksViewModel, default_folder: Path | None = None) -> None:
        super().__init__()
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Notebooks", "PageTitle"))
        about = styled_label(ABOUT, "Muted")
        about.setWordWrap(True)
        layout.addWidget(about)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit(str(default_folder or Path.home()))
        self.folder_edit.setToolTip("Folder JupyterLab opens (its notebooks live there)")
        browse = tool_button("Browse…", "Choose the notebook folder")
        browse.clicked.connect(self.browse)
        self.start_button = tool_button(
            "Launch JupyterLab", "Start a server for the current workspace and open it"
        )
        self.start_button.clicked.connect(self.start)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        row.addWidget(self.start_button)
        layout.addLayout(row)
        self.status_label = styled_label("", "Muted")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.model = RowsModel(("Address", "Workspace", "Folder", "Started", "PID"), self)
        self.table: QTableView = table_view(self.model)
        self.table.setToolTip("JupyterLab servers this app runs; double-click to open")
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update())
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.open_button = tool_button("Open in browser", "Open the selected server")
        self.open_button.clicked.connect(self.open_selected)
        self.stop_button = tool_button("Stop…", "Stop the selected server and its kernels")
        self.stop_button.clicked.connect(self.stop_selected)
        self.refresh_button = tool_button("Refresh", "List the running servers again")
        self.refresh_button.clicked.connect(vm.refresh)
        for button in (self.open_button, self.stop_button, self.refresh_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.subscribe(vm.serversChanged, self.show_servers)
        self.subscribe(vm.started, lambda server: open_in_browser(server.url))
        self.subscribe(vm.statusChanged, self.status_label.setText)
        self.subscribe(vm.busyChanged, lambda busy: self._update(busy))
        self.subscribe(vm.session.permissionsChanged, lambda _p: self._update())
        self._busy = False
        self._update()

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Notebook folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def start(self) -> None:
        self.vm.start(Path(self.folder_edit.text().strip()).expanduser())

    def show_servers(self, servers: list[NotebookServer]) -> None:
        self.model.set_rows(
            [
                (s.address, s.workspace, str(s.root_dir),
                 f"{datetime.fromtimestamp(s.started_at):%Y-%m-%d %H:%M:%S}", str(s.pid))
                for s in servers
            ]
        )  # fmt: skip
        self._update()

    def current(self) -> NotebookServer | None:
        row = selected_row(self.table, self.vm.servers)
        return self.vm.servers[row] if row is not None else None

    def open_selected(self) -> None:
        server = self.current()
        if server is not None:
            open_in_browser(server.url)

    def stop_selected(self) -> None:
        server = self.current()
        text = "Stop the JupyterLab server at {0}? Its running kernels stop; unsaved work is lost."
        if server is not None and confirm(
            self, "Stop notebook server", text.format(server.address), "Stop"
        ):
            self.vm.stop(server)

    def _update(self, busy: bool | None = None, _permissions: Permissions | None = None) -> None:
        if busy is not None:
            self._busy = busy
        self.start_button.setEnabled(self.vm.can_start and not self._busy)
        selected = self.current() is not None
        self.open_button.setEnabled(selected)
        self.stop_button.setEnabled(selected)
