"""Event-loop helper shared by the desktop benchmarks."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEventLoop, QTimer


def wait(seconds: float, until: Callable[[], bool] | None = None, poll_ms: int = 20) -> None:
    """Run the event loop (as `app.exec()` would) for `seconds`, or until `until()` holds."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    if until is not None:
        poll = QTimer()
        poll.timeout.connect(lambda: until() and loop.quit())
        poll.start(poll_ms)
    loop.exec()
