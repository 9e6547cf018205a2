"""The main window: navigation rail, connection banner, message bar and the stacked pages."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modelfleet.desktop.viewmodels.shell import ShellViewModel
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.theme import SPACING, styled_label

DEFAULT_SIZE = (1280, 800)
MINIMUM_SIZE = (1024, 640)


class MainWindow(QMainWindow):
    """Pages keyed like `shell.pages`; Ctrl+1..9 switch pages; every action has a tooltip.

    `pages` holds a factory per page: a page is built when it is first shown (or asked for
    with `page()`), so a start builds only the page it opens on; until then the stack holds
    an empty widget in its place.
    """

    def __init__(
        self,
        shell: ShellViewModel,
        pages: Mapping[str, Callable[[], Page]],
        header: QWidget | None = None,
    ) -> None:
        super().__init__()
        self.shell = shell
        self._closed = False
        self._factories = [pages[spec.key] for spec in shell.pages]
        self._built: dict[int, Page] = {}
        self.setWindowTitle("modelfleet")
        self.resize(*DEFAULT_SIZE)
        self.setMinimumSize(*MINIMUM_SIZE)

        central = QWidget()
        outer = QHBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._build_rail())
        content = QVBoxLayout()
        content.setContentsMargins(0, 0, 0, 0)
        content.setSpacing(0)
        if header is not None:
            content.addWidget(header)  # the session row: workspace switcher, sign in/out
        self.banner = styled_label("", "Banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        content.addWidget(self.banner)
        content.addWidget(self._build_message_bar())
        self.stack = QStackedWidget()
        for _ in self._factories:
            self.stack.addWidget(QWidget())
        content.addWidget(self.stack, 1)
        outer.addLayout(content, 1)
        self.setCentralWidget(central)

        shell.currentChanged.connect(self._show_page)
        shell.bannerChanged.connect(self._show_banner)
        shell.messageChanged.connect(self._show_message)
        shell.pageEnabledChanged.connect(self._enable_page)
        self._show_page(shell.current)
        self._show_banner(shell.banner)
        self._show_message(shell.message)

    def _build_rail(self) -> QFrame:
        rail = QFrame()
        rail.setObjectName("NavRail")
        rail.setFixedWidth(176)
        layout = QVBoxLayout(rail)
        layout.setContentsMargins(SPACING, SPACING * 2, SPACING, SPACING)
        layout.setSpacing(2)
        layout.addWidget(styled_label("modelfleet", "AppTitle"))
        self.nav_group = QActionGroup(self)
        self.nav_group.setExclusive(True)
        self.nav_actions: list[QAction] = []
        for index, spec in enumerate(self.shell.pages):
            shortcut = QKeySequence(f"Ctrl+{index + 1}") if index < 9 else QKeySequence()
            action = QAction(spec.title, self)
            action.setShortcut(shortcut)
            hint = f" ({shortcut.toString()})" if index < 9 else ""
            action.setToolTip(f"{spec.title}: {spec.summary}{hint}")
            action.setCheckable(True)
            self.nav_group.addAction(action)
            action.triggered.connect(lambda _=False, i=index: self.shell.select(i))
            self.addAction(action)  # shortcuts work wherever the focus is in the window
            self.nav_actions.append(action)
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            layout.addWidget(button)
        layout.addStretch(1)
        return rail

    def _build_message_bar(self) -> QFrame:
        self.message_bar = QFrame()
        self.message_bar.setObjectName("MessageBar")
        row = QHBoxLayout(self.message_bar)
        row.setContentsMargins(SPACING * 2, SPACING, SPACING, SPACING)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        dismiss = QPushButton("Dismiss")
        dismiss.setToolTip("Hide this message")
        dismiss.clicked.connect(self.shell.dismiss_message)
        row.addWidget(self.message_label, 1)
        row.addWidget(dismiss)
        self.message_bar.hide()
        return self.message_bar

    def page(self, index: int) -> Page:
        """The page at `index` in `shell.pages`, built now if it was not yet."""
        page = self._built.get(index)
        if page is None:
            page = self._built[index] = self._factories[index]()
            empty = self.stack.widget(index)
            assert empty is not None
            self.stack.insertWidget(index, page)
            self.stack.removeWidget(empty)
            empty.deleteLater()
        return page

    def _show_page(self, index: int) -> None:
        self.stack.setCurrentWidget(self.page(index))
        self.nav_actions[index].setChecked(True)  # the group unchecks the others

    def _enable_page(self, index: int, enabled: bool, reason: str) -> None:
        action, spec = self.nav_actions[index], self.shell.pages[index]
        action.setEnabled(enabled)
        hint = f" (Ctrl+{index + 1})" if index < 9 else ""
        action.setToolTip(f"{spec.title}: {reason if not enabled else spec.summary}{hint}")

    def _show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_bar.setVisible(bool(text))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Unsubscribe from the shell and stop every page (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.shell.currentChanged.disconnect(self._show_page)
        self.shell.bannerChanged.disconnect(self._show_banner)
        self.shell.messageChanged.disconnect(self._show_message)
        self.shell.pageEnabledChanged.disconnect(self._enable_page)
        for page in self._built.values():
            page.shutdown()
