"""What every page widget shares: tracked signal subscriptions dropped when it closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from modelfleet.desktop.widgets.theme import MARGIN, styled_label


class Page(QWidget):
    """A page of the main window; `shutdown()` stops its timers and unsubscribes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._subscriptions: list[tuple[SignalInstance, Callable[..., Any]]] = []

    def subscribe(self, signal: SignalInstance, slot: Callable[..., Any]) -> None:
        signal.connect(slot)
        self._subscriptions.append((signal, slot))

    def shutdown(self) -> None:
        """Disconnect from view-models; subclasses also stop their timers."""
        for signal, slot in self._subscriptions:
            signal.disconnect(slot)
        self._subscriptions.clear()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)


class PlaceholderPage(Page):
    """A page whose service does not exist yet: says what it will show and what it waits for."""

    def __init__(self, title: str, summary: str, coming_with: str) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN * 2, MARGIN * 2, MARGIN * 2, MARGIN * 2)
        heading = styled_label(title, "PageTitle")
        about = styled_label(summary, "Muted")
        about.setWordWrap(True)
        notice = styled_label(f"Coming with {coming_with}.", "Placeholder")
        notice.setWordWrap(True)
        notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(heading)
        layout.addWidget(about)
        layout.addStretch(1)
        layout.addWidget(notice)
        layout.addStretch(2)
        self.notice = notice
