"""View-models: state and signals for the pages, no widgets (QtCore only)."""

from modelfleet.desktop.viewmodels.monitoring import LiveSeries, MonitoringViewModel, SeriesKey
from modelfleet.desktop.viewmodels.series_table import SeriesTableModel
from modelfleet.desktop.viewmodels.shell import PAGES, PageSpec, ShellViewModel

__all__ = [
    "PAGES",
    "LiveSeries",
    "MonitoringViewModel",
    "PageSpec",
    "SeriesKey",
    "SeriesTableModel",
    "ShellViewModel",
]
