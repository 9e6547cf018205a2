"""The Audit page: filters, the server-paged event table, export to a file, chain verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from modelfleet.client import AuditFilter, AuditVerification
from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.viewmodels.audit import AuditViewModel, ExportDone, describe_verification
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.prompts import ask_save_path
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, current_theme, styled_label

RANGES: tuple[tuple[str, timedelta | None], ...] = (
    ("Any time", None),
    ("Last hour", timedelta(hours=1)),
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
    ("Custom range", None),
)
CUSTOM = len(RANGES) - 1
OUTCOMES = ("any outcome", "ok", "denied", "error")


def _edit(placeholder: str, tooltip: str) -> QLineEdit:
    edit = QLineEdit(placeholderText=placeholder)
    edit.setToolTip(tooltip)
    return edit


def _utc(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), UTC)


class AuditPage(Page):
    def __init__(self, vm: AuditViewModel) -> None:
        super().__init__()
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Audit", "PageTitle"))
        layout.addLayout(self._build_filters())
        layout.addLayout(self._build_actions())
        self.verify_label = styled_label("", "Muted")
        self.verify_label.setWordWrap(True)
        self.verify_label.hide()
        layout.addWidget(self.verify_label)
        self.table = QTableView()
        self.table.setModel(vm.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((60, 150, 200, 220, 220, 80)):
            header.resizeSection(column, width)
        self.table.setToolTip("Hover a row for its details and hash; scroll down to load more")
        layout.addWidget(self.table, 1)
        self.count_label = styled_label("", "Muted")
        layout.addWidget(self.count_label)
        self.subscribe(vm.pageLoaded, self._on_loaded)
        self.subscribe(vm.loadingChanged, self._on_loading)
        self.subscribe(vm.exportProgress, self._on_export_progress)
        self.subscribe(vm.exportFinished, self._on_exported)
        self.subscribe(vm.verified, self.show_verification)
        self.subscribe(vm.session.permissionsChanged, self.apply)
        self.apply(vm.session.permissions)
        if vm.first_page_loaded:  # loaded before the page was first shown
            self._on_loaded(len(vm.model.events))
        self._on_loading(vm.loading)

    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        self.range_combo = QComboBox()
        for title, _ in RANGES:
            self.range_combo.addItem(title)
        self.range_combo.setToolTip("Time range of the events")
        self.range_combo.currentIndexChanged.connect(self._on_range)
        now = QDateTime.currentDateTimeUtc()
        self.since_edit = QDateTimeEdit(now.addDays(-1))
        self.until_edit = QDateTimeEdit(now.addSecs(3600))
        for edit, tip in ((self.since_edit, "From (UTC)"), (self.until_edit, "Until (UTC)")):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
            edit.setToolTip(f"{tip}, for a custom range")
            edit.setEnabled(False)
        self.actor_edit = _edit("actor", "User name, API key or agent id (exact)")
        self.action_combo = QComboBox()
        self.action_combo.setEditable(True)
        self.action_combo.setToolTip("Call name, e.g. Workspaces.SetMember (exact)")
        action_edit = self.action_combo.lineEdit()
        assert action_edit is not None  # the combo is editable
        action_edit.setPlaceholderText("action")
        action_edit.setToolTip(self.action_combo.toolTip())
        self.target_edit = _edit("target", "What was acted on, e.g. user:bob (exact)")
        self.outcome_combo = QComboBox()
        self.outcome_combo.addItems(OUTCOMES)
        self.outcome_combo.setToolTip("Only events with this outcome")
        self.search_button = QPushButton("Search")
        self.search_button.setToolTip("Load the events matching these filters")
        self.search_button.clicked.connect(self.search)
        for line in (self.actor_edit, self.target_edit):
            line.returnPressed.connect(self.search)
        for widget in (self.range_combo, self.since_edit, self.until_edit, self.actor_edit):
            row.addWidget(widget)
        row.addWidget(self.action_combo, 1)
        row.addWidget(self.target_edit)
        row.addWidget(self.outcome_combo)
        row.addWidget(self.search_button)
        return row

    def _build_actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        self.all_box = QCheckBox("All workspaces")
        self.all_box.setToolTip("Search the whole hub's log (system admins)")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the events matching the filters as CSV or JSON Lines")
        self.export_button.clicked.connect(self.export)
        self.verify_button = QPushButton("Verify chain")
        self.verify_button.setToolTip(
            "Walk the hash chain and report the first edited or deleted row"
        )
        self.verify_button.clicked.connect(self.vm.verify)
        self.export_label = styled_label("", "Muted")
        row.addWidget(self.all_box)
        row.addStretch(1)
        row.addWidget(self.export_label)
        row.addWidget(self.export_button)
        row.addWidget(self.verify_button)
        return row

    def current_filter(self) -> AuditFilter:
        index = self.range_combo.currentIndex()
        since = until = None
        if index == CUSTOM:
            since = _utc(self.since_edit.dateTime())
            until = _utc(self.until_edit.dateTime())
        elif (span := RANGES[index][1]) is not None:
            since = datetime.now(UTC) - span
        outcome = self.outcome_combo.currentText()
        return AuditFilter(
            since=since,
            until=until,
            actor=self.actor_edit.text().strip() or None,
            action=self.action_combo.currentText().strip() or None,
            target=self.target_edit.text().strip() or None,
            outcome=None if outcome == OUTCOMES[0] else outcome,
        )

    def search(self) -> None:
        self.vm.search(self.current_filter(), self.all_box.isChecked())

    def export(self) -> None:
        self.vm.filter = self.current_filter()
        self.vm.all_workspaces = self.all_box.isChecked()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        path = ask_save_path(
            self, "Export audit log", f"audit-{stamp}.csv", "CSV (*.csv);;JSON Lines (*.jsonl)"
        )
        if path:
            self.export_label.setText("Exporting…")
            self.vm.export(Path(path))

    def apply(self, permissions: Permissions) -> None:
        self.all_box.setVisible(permissions.system_admin)
        self.verify_button.setVisible(permissions.verify_audit)
        for widget in (self.search_button, self.export_button):
            widget.setEnabled(permissions.read_audit)
        if permissions.signed_in and not permissions.read_audit:
            self.count_label.setText(
                "Reading the audit log needs the admin role in this workspace."
            )

    def show_verification(self, result: AuditVerification) -> None:
        self.verify_label.setText(describe_verification(result))
        theme = current_theme()
        color = "#1a7f37" if result.ok else theme.danger
        weight = "600" if not result.ok else "normal"
        self.verify_label.setStyleSheet(f"color: {color}; font-weight: {weight};")
        self.verify_label.show()

    def _on_range(self, index: int) -> None:
        for edit in (self.since_edit, self.until_edit):
            edit.setEnabled(index == CUSTOM)

    def _on_loaded(self, rows: int) -> None:
        more = " (scroll for more)" if self.vm.has_more else ""
        self.count_label.setText(f"{rows} events loaded{more}")
        known = {self.action_combo.itemText(i) for i in range(self.action_combo.count())}
        current = self.action_combo.currentText()
        for action in sorted({e.action for e in self.vm.model.events} - known):
            self.action_combo.addItem(action)
        self.action_combo.setCurrentText(current)

    def _on_loading(self, loading: bool) -> None:
        if loading:
            self.count_label.setText("Loading…")

    def _on_export_progress(self, written: object) -> None:
        self.export_label.setText(f"Exporting… {int(str(written)) / 1024:.0f} KiB")

    def _on_exported(self, done: ExportDone) -> None:
        self.export_label.setText(f"Saved {done.bytes_written / 1024:.1f} KiB to {done.path.name}")
        self.export_label.setToolTip(str(done.path))
