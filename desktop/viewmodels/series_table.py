"""A table model of the Monitoring series: latest figures and which series the charts show."""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from modelfleet.desktop.viewmodels._table import HeaderedTableModel
from modelfleet.desktop.viewmodels.monitoring import MonitoringViewModel, SeriesKey

HEADERS = (
    "Model", "Version", "Agent", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "in flight"
)  # fmt: skip
TOOLTIPS = (
    "Tick to draw this series in the charts",
    "Model version",
    "Agent serving it",
    "Requests per second over the last interval",
    "Median latency over the last interval",
    "95th percentile latency over the last interval",
    "99th percentile latency over the last interval",
    "Failed requests since the agent started",
    "Requests being processed now",
)
# How many series the charts show without the user choosing.
AUTO_SHOWN = 4

Index = QModelIndex | QPersistentModelIndex


class SeriesTableModel(HeaderedTableModel):
    """Rows follow `MonitoringViewModel.series_keys()`; `refresh()` repaints the figures."""

    headers = HEADERS
    tooltips = TOOLTIPS

    shownChanged = Signal(object, bool)  # SeriesKey, shown

    def __init__(self, monitoring: MonitoringViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._vm = monitoring
        self._keys: list[SeriesKey] = []
        self.shown: set[SeriesKey] = set()
        monitoring.seriesAdded.connect(self._on_series_added)
        for key in monitoring.series_keys():
            self._on_series_added(key)

    def key_at(self, row: int) -> SeriesKey:
        return self._keys[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys)

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        key = self._keys[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.CheckStateRole and column == 0:
            return Qt.CheckState.Checked if key in self.shown else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column < 3:
            return (key.model, key.version, key.agent)[column]
        latest = self._vm.series(key).latest
        if latest is None:
            return "-"
        figures = (
            f"{latest.throughput:.1f}",
            f"{latest.p50 * 1000:.2f}",
            f"{latest.p95 * 1000:.2f}",
            f"{latest.p99 * 1000:.2f}",
            str(latest.errors_total),
            str(latest.in_flight),
        )
        return figures[column - 3]

    def setData(self, index: Index, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        shown = Qt.CheckState(value) == Qt.CheckState.Checked
        self.set_shown(self._keys[index.row()], shown)
        return True

    def set_shown(self, key: SeriesKey, shown: bool) -> None:
        if (key in self.shown) == shown:
            return
        if shown:
            self.shown.add(key)
        else:
            self.shown.discard(key)
        row = self._keys.index(key)
        self.dataChanged.emit(self.index(row, 0), self.index(row, 0))
        self.shownChanged.emit(key, shown)

    def refresh(self) -> None:
        """Repaint the figure columns (called from the page's refresh timer)."""
        if self._keys:
            self.dataChanged.emit(
                self.index(0, 3),
                self.index(len(self._keys) - 1, len(HEADERS) - 1),
                [Qt.ItemDataRole.DisplayRole],
            )

    def _on_series_added(self, key: SeriesKey) -> None:
        row = len(self._keys)
        self.beginInsertRows(QModelIndex(), row, row)
        self._keys.append(key)
        self.endInsertRows()
        if len(self.shown) < AUTO_SHOWN:
            self.set_shown(key, True)
