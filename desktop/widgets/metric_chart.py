"""A step chart of one metric for up to ten runs: a line per run over its min/max envelope.

Items are created once per slot (run position) and fed with `setData`; a zoom or pan is
debounced and handed to the view-model, which re-queries the visible steps.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from modelfleet.desktop.viewmodels.metric_chart import ChartData, MetricChartViewModel
from modelfleet.desktop.widgets.theme import current_theme, styled_label

ZOOM_DEBOUNCE_MS = 250
SLOTS = 10


class MetricChart(QWidget):
    """Metric picker, chart, and a note saying how many points each curve summarises."""

    def __init__(self, vm: MetricChartViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.metric_combo = QComboBox()
        self.metric_combo.setToolTip("Metric to chart")
        self.metric_combo.setMinimumWidth(180)
        self.metric_combo.currentTextChanged.connect(self._on_metric)
        self.reset_button = QPushButton("Show all steps")
        self.reset_button.setToolTip("Zoom out to the whole curve")
        self.reset_button.clicked.connect(self.show_all)
        self.note = styled_label("", "Muted")
        row.addWidget(self.metric_combo)
        row.addWidget(self.reset_button)
        row.addWidget(self.note, 1)
        layout.addLayout(row)
        self.plot = pg.PlotWidget()
        self.plot.setToolTip("Wheel to zoom, drag to pan: zooming in loads finer detail")
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.showGrid(x=True, y=True, alpha=0.2)
        item.setLabel("bottom", "step")
        self.legend = item.addLegend(offset=(-8, 8), labelTextSize="8pt")
        theme = current_theme()
        self.plot.setBackground(theme.base)
        self._lines: list[pg.PlotDataItem] = []
        self._fills: list[pg.FillBetweenItem] = []
        for index in range(SLOTS):
            color = QColor(theme.series[index % len(theme.series)])
            line = item.plot(pen=pg.mkPen(color, width=1), skipFiniteCheck=True)
            # Transparent rather than no pen: a pen-less item is hidden, and hidden items do
            # not count in auto-range.
            lower = pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 0), skipFiniteCheck=True)
            upper = pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 0), skipFiniteCheck=True)
            shade = QColor(color)
            shade.setAlpha(60)
            fill = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(shade))
            item.addItem(fill)
            # In the plot (drawing nothing) so that auto-range includes the envelope's spikes.
            item.addItem(lower)
            item.addItem(upper)
            self._lines.append(line)
            self._fills.append(fill)
        layout.addWidget(self.plot, 1)
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(ZOOM_DEBOUNCE_MS)
        self._zoom_timer.timeout.connect(self._send_zoom)
        self._applying = False
        item.getViewBox().sigXRangeChanged.connect(self._on_range)
        vm.keysChanged.connect(self.show_keys)
        vm.curvesChanged.connect(self.show_curves)

    def show_keys(self, keys: list[str]) -> None:
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(keys)
        self.metric_combo.setCurrentText(self.vm.key)
        self.metric_combo.blockSignals(False)

    def _on_metric(self, key: str) -> None:
        if key:
            self.vm.set_metric(key)

    def show_curves(self, data: ChartData) -> None:
        self._applying = True
        self.legend.clear()
        items = list(data.curves.items())
        total = 0
        for index in range(SLOTS):
            line, fill = self._lines[index], self._fills[index]
            if index < len(items):
                label, curve = items[index]
                total += curve.total_points
                line.setData(curve.steps, curve.values)
                fill.curves[0].setData(curve.steps, curve.lower)
                fill.curves[1].setData(curve.steps, curve.upper)
                # The envelope only adds information where a bucket holds several points.
                fill.setVisible(curve.downsampled)
                for edge in fill.curves:
                    edge.setVisible(curve.downsampled)
                line.setVisible(True)
                self.legend.addItem(line, label)
            else:
                line.setVisible(False)
                fill.setVisible(False)
                for edge in fill.curves:
                    edge.setVisible(False)
        if data.steps is None:
            self.plot.getPlotItem().enableAutoRange()
        self._applying = False
        where = "all steps" if data.steps is None else f"steps {data.steps[0]}-{data.steps[1]}"
        self.note.setText(
            f"{data.key or 'no metric'}: {total:,} points over {where}"
            + (" (min-max envelope shaded)" if any(c.downsampled for _, c in items) else "")
        )

    def show_all(self) -> None:
        self.plot.getPlotItem().enableAutoRange()
        self.vm.zoom(0, float(np.iinfo(np.int64).max))

    def _on_range(self, *_args: object) -> None:
        if not self._applying:
            self._zoom_timer.start()

    def _send_zoom(self) -> None:
        if self.vm.runs and self.vm.key:
            lo, hi = self.plot.getPlotItem().getViewBox().viewRange()[0]
            self.vm.zoom(lo, hi)

    def shutdown(self) -> None:
        self._zoom_timer.stop()
        self.vm.keysChanged.disconnect(self.show_keys)
        self.vm.curvesChanged.disconnect(self.show_curves)
