"""Desktop test fixtures: offscreen Qt, a real agent, and a guard against leaked threads/timers."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

# Before any Qt import: every test here runs without a display except the Xvfb ones,
# which start their own process.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication
from shiboken6 import isValid

from agent import RunningAgent, sample_models, start_agent
from modelfleet.desktop.workers import live_workers


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_models(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def agent(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    """A real agent serving the sample model (stopped with SIGTERM, must exit 0)."""
    running = start_agent(models_dir, tmp_path_factory.mktemp("agent"))
    yield running
    assert running.stop() == 0, running.stderr_path.read_text()


def _running_qt_objects() -> list[str]:
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, QTimer) and isValid(obj) and obj.isActive():
            found.append(f"active QTimer (parent {obj.parent()!r}, interval {obj.interval()} ms)")
        elif isinstance(obj, QThread) and isValid(obj) and obj.isRunning():
            found.append(f"running QThread {obj.objectName()!r}")
    return found


@pytest.fixture(autouse=True)
def no_leaked_threads_or_timers() -> Iterator[None]:
    """Fail a test that leaves workers, QThreads or QTimers running after its teardown.

    Autouse and requesting nothing, so it is torn down after pytest-qt has closed the
    test's widgets: what still runs then was leaked by the test or the code under test.
    """
    yield
    app = QApplication.instance()
    if app is None:
        return
    # Workers already told to stop get a moment to unwind their thread.
    for worker in live_workers():
        if worker.token.cancelled:
            worker.wait(3000)
    app.processEvents()
    leaked = _running_qt_objects()
    for worker in live_workers():
        worker.cancel()
        worker.wait(5000)
    for obj in gc.get_objects():
        if isinstance(obj, QTimer) and isValid(obj) and obj.isActive():
            obj.stop()
    if leaked:
        pytest.fail("left running after the test: " + "; ".join(leaked), pytrace=False)
