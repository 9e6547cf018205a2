"""Hub history on the Monitoring page: a deployment and range picker, the stored metrics drawn
with the live charts, and the Drift view of the same range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modelfleet.desktop.series import ERRORS, P50, P95, P99, THROUGHPUT, TIME
from modelfleet.desktop.services.drift_view import DriftCell, DriftMatrix
from modelfleet.desktop.viewmodels.monitoring_history import (
    HistoryData,
    MonitoringHistoryViewModel,
    Target,
)
from modelfleet.desktop.widgets.charts import LiveChart
from modelfleet.desktop.widgets.drift_heatmap import DriftView
from modelfleet.desktop.widgets.theme import SPACING, current_theme, styled_label, tab_tooltips

RANGES: tuple[tuple[str, timedelta | None], ...] = (
    ("Last hour", timedelta(hours=1)),
    ("Last day", timedelta(days=1)),
    ("Last week", timedelta(days=7)),
    ("Custom range", None),
)
CUSTOM = len(RANGES) - 1
LATENCY = ((P50, "lighter"), (P95, "light"), (P99, "full"))


def _utc(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), UTC)


class HistoryPanel(QWidget):
    """Subscribes to its view-model; `shutdown` unsubscribes."""

    def __init__(self, vm: MonitoringHistoryViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._colors = current_theme().series
        self._versions: set[int] = set()  # versions with curves (created once, then reused)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACING)
        layout.addLayout(self._build_range_row())
        self.note = styled_label("Choose a deployment and a range, then Load.", "Muted")
        layout.addWidget(self.note)
        self.tabs = QTabWidget()
        charts = QWidget()
        column = QVBoxLayout(charts)
        column.setContentsMargins(0, 0, 0, 0)
        self.throughput_chart = LiveChart("Throughput (stored)", "req/s")
        self.latency_chart = LiveChart("Latency (p99 strong, p95 lighter, p50 lightest)", "ms")
        self.errors_chart = LiveChart("Errors per bucket", "errors")
        self.charts = (self.throughput_chart, self.latency_chart, self.errors_chart)
        for chart in self.charts:
            column.addWidget(chart, 1)
        self.tabs.addTab(charts, "History")
        self.drift_view = DriftView()
        self.tabs.addTab(self.drift_view, "Drift")
        tab_tooltips(self.tabs, (
            "Stored throughput, latency and errors over the range",
            "Per-feature drift over the range's windows; click a cell for histograms",
        ))  # fmt: skip
        layout.addWidget(self.tabs, 1)
        self._connections = [
            (vm.deploymentsChanged, self.show_targets),
            (vm.historyLoaded, self.show_history),
            (vm.driftLoaded, self.show_drift),
            (vm.cellSelected, self.show_cell),
            (vm.loadingChanged, self._on_loading),
            (self.drift_view.heatmap.cellClicked, vm.select_cell),
        ]
        for signal, slot in self._connections:
            signal.connect(slot)
        if vm.targets:  # loaded before the panel was first shown
            self.show_targets(vm.targets)

    def _build_range_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        self.target_combo = QComboBox()
        self.target_combo.setMinimumWidth(220)
        self.target_combo.setToolTip("Deployment whose stored history to show")
        self.range_combo = QComboBox()
        for title, _span in RANGES:
            self.range_combo.addItem(title)
        self.range_combo.setToolTip("Time range to load from the hub")
        self.range_combo.currentIndexChanged.connect(self._on_range)
        now = QDateTime.currentDateTime()
        self.since_edit = QDateTimeEdit(now.addDays(-1))
        self.until_edit = QDateTimeEdit(now)
        for edit, tip in ((self.since_edit, "From"), (self.until_edit, "Until")):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
            edit.setToolTip(f"{tip} (local time), for a custom range")
            edit.setEnabled(False)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Read metrics and drift windows of this range from the hub")
        self.load_button.clicked.connect(self.load)
        for widget in (self.target_combo, self.range_combo, self.since_edit, self.until_edit,
                       self.load_button):  # fmt: skip
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def show_targets(self, targets: list[Target]) -> None:
        current = self.target_combo.currentText()
        self.target_combo.clear()
        for target in targets:
            self.target_combo.addItem(target.label, target)
        if current:
            self.target_combo.setCurrentText(current)
        self.load_button.setEnabled(bool(targets))

    def current_range(self) -> tuple[datetime, datetime]:
        index = self.range_combo.currentIndex()
        span = RANGES[index][1]
        if span is None:
            return _utc(self.since_edit.dateTime()), _utc(self.until_edit.dateTime())
        until = datetime.now(UTC)
        return until - span, until

    def load(self) -> None:
        index = self.target_combo.currentIndex()
        if index < 0:
            return
        since, until = self.current_range()
        self.vm.load(self.vm.targets[index], since, until)

    def show_history(self, data: HistoryData) -> None:
        for version, columns in data.columns.items():
            self._versions.add(version)
            color = self._colors[(version - 1) % len(self._colors)]
            label = f"{data.target.name} v{version}"
            self.throughput_chart.curve(version, label, color)
            self.errors_chart.curve(version, label, color)
            for column, shade in LATENCY:
                self.latency_chart.curve((version, column), label if column == P99 else None,
                                         color, shade)  # fmt: skip
            time = columns[TIME]
            self.throughput_chart.set_data(version, time, columns[THROUGHPUT])
            self.errors_chart.set_data(version, time, columns[ERRORS])
            for column, _shade in LATENCY:
                self.latency_chart.set_data((version, column), time, columns[column])
        for version in self._versions:
            shown = version in data.columns
            self.throughput_chart.set_visible(version, shown)
            self.errors_chart.set_visible(version, shown)
            for column, _shade in LATENCY:
                self.latency_chart.set_visible((version, column), shown)
        for chart in self.charts:
            chart.follow(data.until.timestamp(), None, data.since.timestamp())
        self.note.setText(
            f"{data.target.label}: {data.buckets} buckets of {data.step_s} s from "
            f"{data.since.astimezone():%Y-%m-%d %H:%M} to {data.until.astimezone():%H:%M}"
            + ("" if data.buckets else " (nothing stored in this range)")
        )

    def show_drift(self, matrix: DriftMatrix) -> None:
        self.drift_view.show_matrix(matrix)

    def show_cell(self, cell: DriftCell) -> None:
        self.drift_view.show_cell(cell)

    def _on_range(self, index: int) -> None:
        for edit in (self.since_edit, self.until_edit):
            edit.setEnabled(index == CUSTOM)

    def _on_loading(self, loading: bool) -> None:
        self.load_button.setEnabled(not loading)
        if loading:
            self.note.setText("Loading from the hub…")

    def shutdown(self) -> None:
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections.clear()
