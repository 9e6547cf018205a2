"""Main window: rail, placeholders, shortcuts, tooltips, banner, messages, sizes, themes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit

from modelfleet.desktop.app import build_desktop
from modelfleet.desktop.viewmodels.shell import PAGES, ShellViewModel
from modelfleet.desktop.widgets.admin_page import AdminPage
from modelfleet.desktop.widgets.alerts_page import AlertsPage
from modelfleet.desktop.widgets.audit_page import AuditPage
from modelfleet.desktop.widgets.base import PlaceholderPage
from modelfleet.desktop.widgets.deployments_page import DeploymentsPage
from modelfleet.desktop.widgets.experiments_page import ExperimentsPage
from modelfleet.desktop.widgets.home_page import HomePage
from modelfleet.desktop.widgets.models_page import ModelsPage
from modelfleet.desktop.widgets.monitoring_page import MonitoringPage
from modelfleet.desktop.widgets.notebooks_page import NotebooksPage
from modelfleet.desktop.widgets.theme import DARK, LIGHT, apply_theme

PAGE_CLASSES = {
    "home": HomePage,
    "experiments": ExperimentsPage,
    "models": ModelsPage,
    "deployments": DeploymentsPage,
    "monitoring": MonitoringPage,
    "alerts": AlertsPage,
    "audit": AuditPage,
    "admin": AdminPage,
    "notebooks": NotebooksPage,
}


@pytest.fixture
def desktop(qtbot):
    built = build_desktop()
    qtbot.addWidget(built.window)
    built.window.show()
    qtbot.waitExposed(built.window)
    yield built
    built.shutdown()


def test_rail_lists_the_pages_and_placeholders_name_their_service(desktop):
    titles = [a.text() for a in desktop.window.nav_actions]
    assert titles == [
        "Home", "Experiments", "Models", "Deployments", "Monitoring",
        "Alerts", "Audit", "Admin", "Notebooks",
    ]  # fmt: skip
    assert desktop.window.stack.currentWidget() is desktop.window.page(4)  # only it is built
    assert not any(
        isinstance(desktop.window.stack.widget(i), PAGE_CLASSES["home"]) for i in range(9)
    )
    for index, spec in enumerate(PAGES):
        page = desktop.window.page(index)
        assert desktop.window.stack.widget(index) is page
        if spec.key in PAGE_CLASSES:
            assert isinstance(page, PAGE_CLASSES[spec.key])
        else:
            assert isinstance(page, PlaceholderPage)
            assert page.notice.text() == f"Coming with {spec.coming_with}."


def test_ctrl_number_switches_pages(desktop, qtbot):
    window = desktop.window
    assert window.stack.currentWidget() is window.page(4)  # starts on Monitoring
    for index in (0, 2, 8, 4):
        qtbot.keyClick(window, str(index + 1), Qt.KeyboardModifier.ControlModifier)
        assert window.stack.currentIndex() == index == desktop.shell.current
        assert window.nav_actions[index].isChecked()
        assert sum(a.isChecked() for a in window.nav_actions) == 1


def test_every_action_and_button_has_a_tooltip(desktop):
    for action in desktop.window.nav_actions:
        assert f"(Ctrl+{desktop.window.nav_actions.index(action) + 1})" in action.toolTip()
    window = desktop.window
    widgets = [
        w
        for w in [*window.findChildren(QAbstractButton), *window.findChildren(QLineEdit)]
        if not w.objectName().startswith("qt_")  # Qt's own parts (table corner button)
    ]
    assert len(widgets) > 12
    for widget in widgets:
        assert widget.toolTip(), widget.text() if hasattr(widget, "text") else widget


def test_banner_follows_connection_states(desktop, qtbot):
    window, shell = desktop.window, desktop.shell
    assert window.banner.isHidden()
    shell.report_connection("127.0.0.1:1", "lost", "agent 127.0.0.1:1: unreachable")
    assert window.banner.isVisible()
    assert window.banner.text() == "Connection to 127.0.0.1:1 lost: agent 127.0.0.1:1: unreachable"
    shell.report_connection("127.0.0.1:2", "lost", "x")
    assert "(and 1 more)" in window.banner.text()
    shell.report_connection("127.0.0.1:1", "live", "")
    shell.report_connection("127.0.0.1:2", "removed", "")
    assert window.banner.isHidden()


def test_errors_show_in_the_message_bar_and_can_be_dismissed(desktop, qtbot):
    desktop.monitoring.errorRaised.emit("metrics a:1 failed unexpectedly: boom")
    assert desktop.window.message_bar.isVisible()
    assert desktop.window.message_label.text() == "metrics a:1 failed unexpectedly: boom"
    dismiss = desktop.window.message_bar.findChildren(QAbstractButton)[0]
    qtbot.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert desktop.window.message_bar.isHidden() and desktop.shell.message == ""


@pytest.mark.parametrize("size", [(1280, 800), (1024, 640)])
def test_fits_the_supported_window_sizes(desktop, qtbot, size):
    window = desktop.window
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size)
    page = window.page(4)
    assert page.minimumSizeHint().width() <= window.stack.width()
    assert window.minimumSize().width() == 1024 and window.minimumSize().height() == 640


def test_light_and_dark_palettes(qapp):
    try:
        for theme in (LIGHT, DARK):
            apply_theme(qapp, theme)
            window = QApplication.palette().color(QPalette.ColorRole.Window)
            assert window.name() == theme.window
            assert (window.lightness() < 128) == theme.dark
    finally:
        apply_theme(qapp, LIGHT)


def test_shell_ignores_out_of_range_pages():
    shell = ShellViewModel()
    shell.select(3)
    shell.select(42)
    assert shell.current == 3


def test_monitoring_builds_its_history_tab_when_first_shown(desktop, qtbot):
    page = desktop.window.page(4)
    assert page.history_panel is None
    page.tabs.setCurrentIndex(1)
    assert page.history_panel is not None
    qtbot.waitUntil(page.history_panel.isVisible)
    assert page.history() is page.history_panel
