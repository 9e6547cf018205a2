"""Live time-series charts: curves created once, fed with `setData` from the page's timer."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QWidget

from modelfleet.desktop.series import FloatArray

# Shades that tell percentiles apart when one colour is one series. Dashed or wide pens
# make Qt stroke the path, which costs ~100x more on dense curves: all pens are solid, 1 px.
SHADES = {"full": 100, "light": 150, "lighter": 190}

pg.setConfigOptions(antialias=False, useNumba=False)


class LiveChart(pg.PlotWidget):  # type: ignore[misc]
    """A time chart whose curves clip to the view and downsample, so 1e6 points stay cheap."""

    def __init__(self, title: str, unit: str, parent: QWidget | None = None) -> None:
        self._ready = False  # the base constructor already sends palette changes
        super().__init__(parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self._title = title
        self._curves: dict[Hashable, pg.PlotDataItem] = {}
        plot = self.getPlotItem()
        plot.setLabel("left", unit)
        plot.setMenuEnabled(False)
        plot.showGrid(x=True, y=True, alpha=0.15)
        # The grid makes each axis item as large as the plot, so every curve update repainted
        # both axes by replaying their pictures (text laid out again each time); cached, an
        # unchanged axis is one pixmap copy. The cache is redrawn when the axis changes.
        for side in ("left", "bottom"):
            plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.getViewBox().setMouseEnabled(x=True, y=False)
        # Y follows what is visible, not the whole (possibly hour-long) buffer.
        plot.getViewBox().setAutoVisible(y=True)
        self.legend = plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.setToolTip(f"{title}: drag to pan, wheel to zoom the time axis")
        self.setMinimumHeight(120)
        self._ready = True
        self._apply_palette()

    def curve(
        self, ident: Hashable, name: str | None, color: str, shade: str = "full"
    ) -> pg.PlotDataItem:
        """The curve for `ident`, created on first use and kept for the chart's lifetime."""
        item = self._curves.get(ident)
        if item is None:
            qcolor = QColor(color)
            if self.palette().base().color().lightness() < 128:
                qcolor = qcolor.darker(SHADES[shade])  # on dark backgrounds fade towards it
            else:
                qcolor = qcolor.lighter(SHADES[shade])
            pen = pg.mkPen(qcolor, width=1)
            item = self.getPlotItem().plot(name=name, pen=pen)
            # Set after construction: `plot()` without data drops these keyword options.
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
            item.setSkipFiniteCheck(True)
            self._curves[ident] = item
        return item

    def has_curve(self, ident: Hashable) -> bool:
        return ident in self._curves

    def set_visible(self, ident: Hashable, visible: bool) -> None:
        item = self._curves.get(ident)
        if item is not None:
            item.setVisible(visible)

    def set_data(self, ident: Hashable, x: FloatArray, y: FloatArray) -> None:
        self._curves[ident].setData(x, y)

    def hide_time_axis(self) -> None:
        """For charts stacked above one that shows the (shared) time axis."""
        self.getPlotItem().hideAxis("bottom")

    def follow(self, end: float, window_s: float | None, start: float | None = None) -> None:
        """Show `[end - window_s, end]`, or everything from `start` when `window_s` is None."""
        begin = (end - window_s) if window_s is not None else start
        if begin is not None and np.isfinite(begin) and end > begin:
            self.getPlotItem().setXRange(begin, end, padding=0.0)

    def changeEvent(self, event: QEvent) -> None:
        if self._ready and event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        background = palette.base().color()
        foreground = palette.text().color()
        self.setBackground(background)
        plot = self.getPlotItem()
        plot.setTitle(self._title, color=foreground.name(), size="10pt")
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
