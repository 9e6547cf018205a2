"""Widgets: take their view-model in `__init__`, subscribe to it, never do I/O."""

from modelfleet.desktop.widgets.base import Page, PlaceholderPage
from modelfleet.desktop.widgets.main_window import MainWindow
from modelfleet.desktop.widgets.monitoring_page import MonitoringPage

__all__ = ["MainWindow", "MonitoringPage", "Page", "PlaceholderPage"]
