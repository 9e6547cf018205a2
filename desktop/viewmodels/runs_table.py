"""The runs table: rows appended page by page as the view scrolls, sorted by the hub.

Cells arrive pre-rendered from the worker (`RunRows`), so `data()` is a list lookup;
`sort()` does not reorder anything here, it asks the view-model for a new server query. The
runs themselves are kept packed (see `pack_run`) and unpacked when one is asked for.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from modelfleet.client import Run
from modelfleet.desktop.services.runs import (
    FIXED_COLUMNS,
    PackedRun,
    RunColumn,
    RunRows,
    unpack_run,
)

Index = QModelIndex | QPersistentModelIndex
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class RunsTableModel(QAbstractTableModel):
    """`fetch_more()` / `can_fetch_more()` are the view-model's paging hooks."""

    def __init__(
        self,
        can_fetch_more: Callable[[], bool],
        fetch_more: Callable[[], None],
        sort: Callable[[RunColumn, bool], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._can_fetch_more = can_fetch_more
        self._fetch_more = fetch_more
        self._sort = sort
        self.columns: tuple[RunColumn, ...] = FIXED_COLUMNS
        self._runs: list[PackedRun] = []
        self._cells: list[tuple[str, ...]] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._cells)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or section >= len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{column.expression}: click to sort on the hub"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and self.columns[index.column()].kind == (
            "metrics"
        ):
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            run = self.run(index.row())
            return f"run {run.id} by {run.created_by or '-'}"
        return None

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._can_fetch_more()

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            self._fetch_more()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if 0 <= column < len(self.columns):
            self._sort(self.columns[column], order == Qt.SortOrder.DescendingOrder)

    def reset(self, columns: tuple[RunColumn, ...] | None = None) -> None:
        self.beginResetModel()
        if columns is not None:
            self.columns = columns
        self._runs, self._cells = [], []
        self.endResetModel()

    def append(self, rows: RunRows) -> None:
        """Add a page; the first page of a query also sets the columns (one reset)."""
        if not self._runs and rows.columns != self.columns:
            self.reset(rows.columns)
        if not rows.cells:
            return
        start = len(self._cells)
        self.beginInsertRows(QModelIndex(), start, start + len(rows.cells) - 1)
        self._runs.extend(rows.runs)
        self._cells.extend(rows.cells)
        self.endInsertRows()

    def run(self, row: int) -> Run:
        return unpack_run(self._runs[row])

    def column_of(self, expression: str) -> int:
        """The index of the column whose operand is `expression`, or -1."""
        for i, column in enumerate(self.columns):
            if column.expression == expression:
                return i
        return -1
