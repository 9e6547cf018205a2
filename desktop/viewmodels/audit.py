"""The Audit page's state: a filtered, server-paged event table, export and chain verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from modelfleet.client import AuditEvent, AuditFilter, AuditVerification, HubClient, Page
from modelfleet.desktop.services.audit_export import export_format, write_stream
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.viewmodels._table import HeaderedTableModel
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

PAGE_SIZE = 200
HEADERS = ("#", "Time (UTC)", "Actor", "Action", "Target", "Outcome", "Source")
TOOLTIPS = (
    "Position in the hash chain",
    "When the hub recorded the event",
    "Who acted (user, API key or agent)",
    "The call that was made",
    "What it acted on",
    "ok, denied or failed",
    "Where the call came from",
)

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class ExportDone:
    path: Path
    bytes_written: int


class AuditTableModel(HeaderedTableModel):
    """Rows loaded so far; views call `fetchMore` near the end and the next page loads."""

    headers = HEADERS
    tooltips = TOOLTIPS

    def __init__(self, vm: AuditViewModel) -> None:
        super().__init__(vm)
        self._vm = vm
        self.events: list[AuditEvent] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.events)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        event = self.events[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"details: {event.details_json}\nhash: {event.hash}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return _cell(event, index.column())

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._vm.has_more and not self._vm.loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            self._vm.load_more()

    def reset(self) -> None:
        self.beginResetModel()
        self.events = []
        self.endResetModel()

    def append(self, events: tuple[AuditEvent, ...]) -> None:
        if events:
            start = len(self.events)
            self.beginInsertRows(QModelIndex(), start, start + len(events) - 1)
            self.events.extend(events)
            self.endInsertRows()


def _cell(event: AuditEvent, column: int) -> str:
    if column == 0:
        return str(event.seq)
    if column == 1:
        return event.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if event.time else "-"
    actor = event.actor_name or event.actor_id
    values = (
        f"{actor} [{event.actor_kind}]",
        event.action,
        event.target,
        event.outcome,
        event.source,
    )
    return values[column - 2]


class AuditViewModel(QObject):
    loadingChanged = Signal(bool)
    pageLoaded = Signal(int)  # rows loaded in total
    exportProgress = Signal(int)  # bytes written so far
    exportFinished = Signal(object)  # ExportDone
    verified = Signal(object)  # AuditVerification
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.filter = AuditFilter()
        # System admins may read the whole hub's log; others their workspace's only.
        self.all_workspaces = False
        self.loading = False
        self._next_token: str | None = None
        self._started = False
        self.model = AuditTableModel(self)
        self._page_slot = WorkerSlot(self)
        self._export_slot = WorkerSlot(self)
        self._verify_slot = WorkerSlot(self)
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    @property
    def first_page_loaded(self) -> bool:
        """Whether the current query's first page arrived (a page built later shows it)."""
        return self._started

    @property
    def has_more(self) -> bool:
        return self._started and self._next_token is not None

    def _scope(self) -> str | None:
        return (
            None
            if self.all_workspaces and self.session.permissions.system_admin
            else (self.session.workspace)
        )

    def search(self, audit_filter: AuditFilter, all_workspaces: bool = False) -> None:
        self.filter = audit_filter
        self.all_workspaces = all_workspaces
        self.reload()

    def reload(self, _workspace: str = "") -> None:
        """Drop the rows and load the first page for the current filter and scope."""
        self._page_slot.cancel()
        self.model.reset()
        self._next_token = None
        self._started = False
        self._set_loading(False)
        if self.session.permissions.read_audit:
            self._fetch(None)

    def load_more(self) -> None:
        if self.has_more and not self.loading:
            self._fetch(self._next_token)

    def _fetch(self, token: str | None) -> None:
        audit_filter, workspace = self.filter, self._scope()

        def query(client: HubClient, _t: CancelToken, _p: Progress) -> Page[AuditEvent]:
            return client.query_audit(
                audit_filter, page_size=PAGE_SIZE, page_token=token, workspace=workspace
            )

        self._set_loading(True)
        self.session.run(self._page_slot, "audit page", query, self._on_page, self._on_failed)

    def _on_page(self, page: Page[AuditEvent]) -> None:
        self._started = True
        self._next_token = page.next_page_token
        self._set_loading(False)
        self.model.append(page.items)
        self.pageLoaded.emit(len(self.model.events))

    def _on_failed(self, message: str) -> None:
        self._set_loading(False)
        self.failed.emit(message)

    def _set_loading(self, loading: bool) -> None:
        if loading != self.loading:
            self.loading = loading
            self.loadingChanged.emit(loading)

    def export(self, path: Path) -> None:
        """Stream the events matching the filter into `path` (.csv or .jsonl) on a worker."""
        try:
            fmt = export_format(path)
        except ValueError as exc:
            self.failed.emit(str(exc))
            return
        audit_filter, workspace = self.filter, self._scope()

        def export(client: HubClient, token: CancelToken, progress: Progress) -> ExportDone:
            chunks = client.export_audit(audit_filter, fmt=fmt, workspace=workspace)
            return ExportDone(path, write_stream(chunks, path, token, progress))

        self.session.run(
            self._export_slot,
            "audit export",
            export,
            self.exportFinished.emit,
            self.failed.emit,
            self.exportProgress.emit,
        )

    def verify(self) -> None:
        def verify(client: HubClient, _t: CancelToken, _p: Progress) -> AuditVerification:
            return client.verify_audit()

        self.session.run(
            self._verify_slot, "verify audit chain", verify, self.verified.emit, self.failed.emit
        )

    def shutdown(self) -> None:
        for slot in (self._page_slot, self._export_slot, self._verify_slot):
            slot.cancel()


def describe_verification(result: AuditVerification) -> str:
    """One sentence for the result of a chain walk."""
    if result.ok:
        return f"Chain intact: all {result.rows_checked} events verified."
    return (
        f"Chain BROKEN at event #{result.first_bad_seq}: {result.problem or 'mismatch'} "
        f"({result.rows_checked} events checked). The log was changed outside the hub."
    )
