"""The leak guard itself: it must notice a timer or worker left running."""

from __future__ import annotations

import conftest
from PySide6.QtCore import QTimer

from modelfleet.desktop.workers import StreamWorker


def test_guard_reports_active_timer_and_running_worker(qapp):
    timer = QTimer()
    timer.start(1000)

    def forever(token):
        while True:
            token.wait(0.05)
            yield None

    worker = StreamWorker("forever", forever)
    worker.start_work()
    try:
        found = conftest._running_qt_objects()
        assert any("active QTimer" in item for item in found)
        assert any("running QThread 'forever'" in item for item in found)
    finally:
        timer.stop()
        worker.quit_stream()
        assert worker.wait(3000)
    assert conftest._running_qt_objects() == []
