"""The Drift view: a features x windows heatmap (colour = statistic relative to its threshold,
drifted cells crossed) and, for a clicked cell, reference vs current histograms."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from modelfleet.desktop.services.drift_view import (
    SCORE_CAP,
    DriftCell,
    DriftMatrix,
    describe_cell,
    histogram_axis,
)
from modelfleet.desktop.widgets.theme import current_theme, styled_label

# Green below the threshold, yellow at it (score 1), red at the cap; colour-blind readable
# thanks to the crosses on drifted cells.
COLOURS = ("#1a9850", "#fee08b", "#d73027")
MAX_TIME_TICKS = 8


def _lookup_table() -> np.ndarray:
    cmap = pg.ColorMap([0.0, 1.0 / SCORE_CAP, 1.0], [QColor(c) for c in COLOURS])
    table: np.ndarray = cmap.getLookupTable(0.0, 1.0, 256)
    return table


class DriftHeatmap(pg.PlotWidget):  # type: ignore[misc]
    """Columns are windows (oldest left), rows features; a click emits (feature, window)."""

    cellClicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix: DriftMatrix | None = None
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.invertY(True)  # the first feature on top, as in a table
        plot.setLabel("bottom", "drift window (end time)")
        plot.getViewBox().setMouseEnabled(x=True, y=True)
        self.setBackground(current_theme().base)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setLookupTable(_lookup_table())
        self.image.setLevels([0.0, SCORE_CAP])
        plot.addItem(self.image)
        self.marks = pg.ScatterPlotItem(
            symbol="x", size=9, pen=pg.mkPen("#1f2328", width=1.5), brush=None, pxMode=True
        )
        plot.addItem(self.marks)
        self.selection = pg.PlotDataItem(pen=pg.mkPen("#2563eb", width=2.5))
        plot.addItem(self.selection)
        self.setToolTip(
            "Colour: statistic relative to its threshold (yellow = at the threshold); "
            "x = drifted. Click a cell for its histograms; wheel to zoom."
        )
        self.scene().sigMouseClicked.connect(self._on_scene_click)

    def show_matrix(self, matrix: DriftMatrix) -> None:
        self.matrix = matrix
        self.selection.setData([], [])
        if matrix.empty:
            self.image.clear()
            self.marks.setData([], [])
            return
        # col-major: the first image axis is x (windows), the second y (features).
        self.image.setImage(matrix.scores.T, autoLevels=False, levels=(0.0, SCORE_CAP))
        rows, cols = np.nonzero(matrix.drifted)
        self.marks.setData(cols + 0.5, rows + 0.5)
        plot = self.getPlotItem()
        plot.getAxis("left").setTicks([[(i + 0.5, name) for i, name in enumerate(matrix.features)]])
        n = len(matrix.windows)
        every = max(1, n // MAX_TIME_TICKS)
        plot.getAxis("bottom").setTicks(
            [
                [
                    (w + 0.5, f"{datetime.fromtimestamp(matrix.windows[w].report.ended_at):%H:%M}")
                    for w in range(0, n, every)
                ]
            ]
        )
        plot.getViewBox().setRange(xRange=(0, n), yRange=(0, len(matrix.features)), padding=0)

    def cell_center(self, feature: int, window: int) -> QPoint:
        """Where the cell is in widget coordinates (tests click there)."""
        view = self.getPlotItem().getViewBox()
        scene = view.mapViewToScene(QPointF(window + 0.5, feature + 0.5))
        point: QPoint = self.mapFromScene(scene)
        return point

    def mark_selected(self, feature: int, window: int) -> None:
        x0, y0 = float(window), float(feature)
        self.selection.setData([x0, x0 + 1, x0 + 1, x0, x0], [y0, y0, y0 + 1, y0 + 1, y0])

    def _on_scene_click(self, event: object) -> None:
        matrix = self.matrix
        if matrix is None or matrix.empty:
            return
        scene_pos = event.scenePos()  # type: ignore[attr-defined]
        view = self.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(scene_pos):
            return
        point = view.mapSceneToView(scene_pos)
        window, feature = int(np.floor(point.x())), int(np.floor(point.y()))
        if 0 <= feature < len(matrix.features) and 0 <= window < len(matrix.windows):
            self.mark_selected(feature, window)
            self.cellClicked.emit(feature, window)


class HistogramPlot(pg.PlotWidget):  # type: ignore[misc]
    """Reference and current shares on the window's buckets, as two filled step curves."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        theme = current_theme()
        self.setBackground(theme.base)
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setLabel("left", "share of rows")
        plot.showGrid(x=False, y=True, alpha=0.2)
        legend = plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.curves = {}
        for name, color in (("reference", theme.series[0]), ("current", theme.series[1])):
            shade = QColor(color)
            shade.setAlpha(70)
            curve = pg.PlotDataItem(
                stepMode="center", fillLevel=0, brush=pg.mkBrush(shade), pen=pg.mkPen(color)
            )
            plot.addItem(curve)
            legend.addItem(curve, name)
            self.curves[name] = curve

    def show_cell(self, cell: DriftCell | None) -> None:
        histogram = cell.histogram if cell else None
        if histogram is None:
            for curve in self.curves.values():
                curve.setData([], [])
            return
        edges, labels = histogram_axis(histogram)
        self.curves["reference"].setData(edges, np.asarray(histogram.reference))
        self.curves["current"].setData(edges, np.asarray(histogram.current))
        axis = self.getPlotItem().getAxis("bottom")
        axis.setTicks([[(i + 0.5, label) for i, label in enumerate(labels)]] if labels else None)
        self.getPlotItem().enableAutoRange()


class DriftView(QWidget):
    """Heatmap above, the selected cell's verdict and histograms below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = styled_label("Choose a deployment and a range, then Load.", "Muted")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.heatmap = DriftHeatmap()
        self.detail_label = styled_label("Click a cell to compare its histograms.", "Muted")
        self.detail_label.setWordWrap(True)
        self.histogram = HistogramPlot()
        detail = QWidget()
        column = QVBoxLayout(detail)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.detail_label)
        column.addWidget(self.histogram, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.heatmap)
        split.addWidget(detail)
        split.setSizes([420, 260])
        layout.addWidget(split, 1)

    def show_matrix(self, matrix: DriftMatrix) -> None:
        self.heatmap.show_matrix(matrix)
        self.show_cell(None)
        if matrix.empty:
            self.summary.setText("No drift windows in this range.")
            return
        drifted = sum(1 for w in matrix.windows if w.report.dataset_drifted)
        self.summary.setText(
            f"{len(matrix.windows)} windows x {len(matrix.features)} features; the dataset "
            f"drifted in {drifted} window(s). Crossed cells drifted."
        )

    def show_cell(self, cell: DriftCell | None) -> None:
        self.histogram.show_cell(cell)
        if cell is None:
            self.detail_label.setText("Click a cell to compare its histograms.")
        else:
            self.heatmap.mark_selected(self.heatmap_row(cell), cell.window)
            self.detail_label.setText(describe_cell(cell))

    def heatmap_row(self, cell: DriftCell) -> int:
        matrix = self.heatmap.matrix
        return matrix.features.index(cell.feature) if matrix else 0
