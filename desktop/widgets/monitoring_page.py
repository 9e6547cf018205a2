"""The Monitoring page: agents to watch, a live table of series, and the three live charts."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modelfleet.desktop.series import ERRORS, P50, P95, P99, THROUGHPUT, TIME
from modelfleet.desktop.services.metrics import AgentEndpoint
from modelfleet.desktop.viewmodels.monitoring import MonitoringViewModel, SeriesKey
from modelfleet.desktop.viewmodels.monitoring_history import MonitoringHistoryViewModel
from modelfleet.desktop.viewmodels.series_table import SeriesTableModel
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.charts import LiveChart
from modelfleet.desktop.widgets.history_panel import HistoryPanel
from modelfleet.desktop.widgets.theme import (
    MARGIN,
    SPACING,
    current_theme,
    styled_label,
    tab_tooltips,
)

# One chart is updated per tick, so each of the three repaints at 10 Hz: the fastest useful
# snapshot rate, while one GUI frame only ever pays for a single chart.
REFRESH_MS = 33
WINDOWS: tuple[tuple[str, float | None], ...] = (
    ("Last minute", 60.0),
    ("Last 5 minutes", 300.0),
    ("Last 15 minutes", 900.0),
    ("Last hour", 3600.0),
    ("Everything loaded", None),
)
LATENCY_CURVES = ((P50, "p50", "lighter"), (P95, "p95", "light"), (P99, "p99", "full"))


def parse_address(text: str) -> str:
    """`host:port` with a port in 1..65535, else ValueError naming the field."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"Agent address: expected host:port (e.g. 127.0.0.1:50051), got {text!r}")
    return f"{host}:{port}"


def _curves(chart: int, key: SeriesKey) -> list[tuple[Hashable, int]]:
    """(curve id, series column) pairs drawn by chart 0 (throughput), 1 (latency), 2 (errors)."""
    if chart == 0:
        return [(key, THROUGHPUT)]
    if chart == 1:
        return [((key, column), column) for column, _, _ in LATENCY_CURVES]
    return [(key, ERRORS)]


def _home_relative(path: Path) -> str:
    """`~/...` for paths under the home folder: shorter, and what people type."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


class MonitoringPage(Page):
    def __init__(
        self,
        monitoring: MonitoringViewModel,
        default_token_file: Path,
        history: MonitoringHistoryViewModel | None = None,
    ) -> None:
        super().__init__()
        self.vm = monitoring
        self.table_model = SeriesTableModel(monitoring, self)
        self._drawn: dict[tuple[int, SeriesKey], int] = {}
        self._drawn_revision = [-1] * 4  # one per chart, then the table
        self._turn = 0
        self._colors = current_theme().series

        page = QVBoxLayout(self)
        page.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        page.setSpacing(SPACING)
        page.addWidget(styled_label("Monitoring", "PageTitle"))
        live = QWidget()
        layout = QVBoxLayout(live)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACING)
        self._history_vm = history
        self.history_panel: HistoryPanel | None = None  # built when its tab is first shown
        if history is None:
            page.addWidget(live, 1)
        else:
            self.tabs = QTabWidget()
            self.tabs.addTab(live, "Live")
            holder = QWidget()
            self._history_box = QVBoxLayout(holder)
            self._history_box.setContentsMargins(0, 0, 0, 0)
            self.tabs.addTab(holder, "History && drift")
            self.tabs.currentChanged.connect(self._on_tab)
            tab_tooltips(self.tabs, (
                "Live metrics streamed from agents",
                "Stored metrics and drift windows from the hub",
            ))  # fmt: skip
            page.addWidget(self.tabs, 1)
        layout.addLayout(self._build_connect_row(default_token_file))
        self.field_error = styled_label("", "FieldError")
        self.field_error.hide()
        layout.addWidget(self.field_error)
        self.agents_label = styled_label("No agent connected yet.", "Muted")
        self.agents_label.setWordWrap(True)
        layout.addWidget(self.agents_label)

        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setAlternatingRowColors(True)
        self.table.setToolTip("Live figures per model version; tick a row to chart it")

        self.throughput_chart = LiveChart("Throughput", "req/s")
        self.latency_chart = LiveChart("Latency (p99 strong, p95 lighter, p50 lightest)", "ms")
        self.errors_chart = LiveChart("Errors per interval", "errors")
        self.charts = (self.throughput_chart, self.latency_chart, self.errors_chart)
        # Not X-linked: a linked range change would repaint all three charts in one frame.
        for chart in self.charts[:-1]:
            chart.hide_time_axis()
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        for chart in self.charts:
            chart_layout.addWidget(chart, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(chart_box)
        splitter.setSizes([220, 520])
        layout.addWidget(splitter, 1)

        self.subscribe(self.table_model.shownChanged, self._on_shown_changed)
        self.subscribe(monitoring.agentStateChanged, self._on_agent_state)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    def _build_connect_row(self, default_token_file: Path) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        self.address_edit = QLineEdit(placeholderText="agent gRPC address, e.g. 127.0.0.1:50051")
        self.address_edit.setToolTip("host:port of the agent's gRPC port")
        self.token_edit = QLineEdit(_home_relative(default_token_file))
        self.token_edit.setToolTip("File holding the agent's control token (read when connecting)")
        self.connect_button = QPushButton("Connect")
        self.connect_button.setToolTip("Start streaming this agent's metrics")
        self.connect_button.clicked.connect(self.connect_agent)
        self.address_edit.returnPressed.connect(self.connect_agent)
        self.follow_box = QCheckBox("Follow live")
        self.follow_box.setChecked(True)
        self.follow_box.setToolTip("Keep the charts scrolled to the newest samples")
        self.window_combo = QComboBox()
        for title, seconds in WINDOWS:
            self.window_combo.addItem(title, seconds)
        self.window_combo.setCurrentIndex(1)
        self.window_combo.setToolTip("Time range the charts show while following")
        row.addWidget(self.address_edit, 3)
        row.addWidget(self.token_edit, 3)
        row.addWidget(self.connect_button)
        row.addSpacing(SPACING * 2)
        row.addWidget(self.follow_box)
        row.addWidget(self.window_combo)
        return row

    def connect_agent(self) -> None:
        try:
            address = parse_address(self.address_edit.text())
        except ValueError as exc:
            self.field_error.setText(str(exc))
            self.field_error.show()
            return
        token_file = self.token_edit.text().strip()
        if not token_file:
            self.field_error.setText("Token file: expected the path of the agent's control token")
            self.field_error.show()
            return
        self.field_error.hide()
        self.vm.add_agent(AgentEndpoint(address, Path(token_file).expanduser()))
        self.address_edit.clear()

    def refresh(self) -> None:
        """Timer slot: update the table or one chart per tick (its changed curves and window).

        Taking turns keeps every GUI frame to one repaint, however many series stream.
        """
        index = self._turn
        self._turn = (index + 1) % (len(self.charts) + 1)
        if self.vm.revision == self._drawn_revision[index]:
            return
        self._drawn_revision[index] = self.vm.revision
        if index == len(self.charts):
            self.table_model.refresh()
            return
        chart = self.charts[index]
        latest = float("-inf")
        earliest = float("inf")
        for key in self.table_model.shown:
            series = self.vm.series(key)
            columns = series.display()
            if columns.shape[1] == 0:
                continue
            latest = max(latest, columns[TIME, -1])
            earliest = min(earliest, columns[TIME, 0])
            if self._drawn.get((index, key)) == series.revision:
                continue
            self._drawn[(index, key)] = series.revision
            for ident, column in _curves(index, key):
                chart.set_data(ident, columns[TIME], columns[column])
        if self.follow_box.isChecked() and latest > float("-inf"):
            chart.follow(latest, self.window_combo.currentData(), earliest)

    def _on_tab(self, index: int) -> None:
        if index == 1:
            self.history()

    def history(self) -> HistoryPanel:
        """The "History & drift" tab's panel, built now if it was not yet."""
        if self.history_panel is None:
            assert self._history_vm is not None, "a page without history has no such tab"
            self.history_panel = HistoryPanel(self._history_vm)
            self._history_box.addWidget(self.history_panel)
        return self.history_panel

    def shutdown(self) -> None:
        self._timer.stop()
        if self.history_panel is not None:
            self.history_panel.shutdown()
        super().shutdown()

    def _on_shown_changed(self, key: SeriesKey, shown: bool) -> None:
        if shown and not self.throughput_chart.has_curve(key):
            color = self._colors[self.vm.series_keys().index(key) % len(self._colors)]
            self.throughput_chart.curve(key, key.label, color)
            for column, _, style in LATENCY_CURVES:
                # One legend entry per series: the shades are explained in the title.
                legend = key.label if column == P99 else None
                self.latency_chart.curve((key, column), legend, color, style)
            self.errors_chart.curve(key, key.label, color)
        self.throughput_chart.set_visible(key, shown)
        self.errors_chart.set_visible(key, shown)
        for column, _, _ in LATENCY_CURVES:
            self.latency_chart.set_visible((key, column), shown)
        for index in range(len(self.charts)):
            self._drawn.pop((index, key), None)
        self._drawn_revision = [-1] * (len(self.charts) + 1)

    def _on_agent_state(self, source: str, state: str, message: str) -> None:
        states = self.vm.agent_states
        if not states:
            self.agents_label.setText("No agent connected yet.")
            return
        live = sum(1 for st, _ in states.values() if st == "live")
        others = [f"{name} {st}" for name, (st, _) in sorted(states.items()) if st != "live"]
        text = f"{len(states)} source(s), {live} live"
        self.agents_label.setText(text + (": " + ", ".join(others) if others else ""))
