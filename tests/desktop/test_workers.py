"""Workers: results and errors arrive on the GUI thread, cancellation silences a worker."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from modelfleet.client import Unavailable
from modelfleet.desktop.services.cancel import Cancelled, CancelToken
from modelfleet.desktop.workers import StreamWorker, TaskWorker, WorkerSlot, live_workers


def test_task_result_and_progress_arrive_on_the_gui_thread(qtbot):
    gui = QThread.currentThread()
    seen = []

    def task(token, progress):
        seen.append(QThread.currentThread() is not gui)
        progress(0.5)
        return 42

    worker = TaskWorker("answer", task)
    received = []
    worker.progress.connect(lambda value: received.append((value, QThread.currentThread() is gui)))
    with qtbot.waitSignal(worker.succeeded, timeout=5000) as blocker:
        worker.start_work()
    assert blocker.args == [42]
    assert seen == [True] and received == [(0.5, True)]
    assert worker.wait(3000)


def test_service_error_becomes_a_readable_message(qtbot):
    def task(token, progress):
        raise Unavailable("hub 10.0.0.1:7443 unreachable", rpc="Registry.ListModels")

    worker = TaskWorker("list models", task)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start_work()
    assert blocker.args == ["hub 10.0.0.1:7443 unreachable (Registry.ListModels)"]
    assert worker.wait(3000)


def test_unexpected_exception_is_one_line_not_a_traceback(qtbot):
    worker = TaskWorker("parse", lambda token, progress: {}["missing"])
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start_work()
    assert blocker.args == ["parse failed unexpectedly: 'missing'"]
    assert "Traceback" not in blocker.args[0]
    assert worker.wait(3000)


def test_starting_a_task_in_a_slot_cancels_the_previous_one(qtbot):
    release = threading.Event()

    def slow(token: CancelToken, progress):
        release.wait(5)
        return "stale"

    slot = WorkerSlot()
    first = TaskWorker("first", slow)
    stale = []
    first.succeeded.connect(stale.append)
    slot.start(first)
    second = TaskWorker("second", lambda token, progress: "fresh")
    with qtbot.waitSignal(second.succeeded, timeout=5000) as blocker:
        slot.start(second)
    assert first.token.cancelled and blocker.args == ["fresh"]
    release.set()
    assert first.wait(3000) and second.wait(3000)
    qtbot.wait(50)  # let any queued delivery from the first worker arrive (it must be dropped)
    assert stale == []


def test_stream_worker_emits_items_and_quits_when_told(qtbot):
    def counter(token: CancelToken):
        n = 0
        while True:
            token.wait(0.01)
            n += 1
            yield n

    worker = StreamWorker("counter", counter)
    items = []
    worker.item.connect(items.append)
    worker.start_work()
    qtbot.waitUntil(lambda: len(items) >= 5, timeout=5000)
    worker.quit_stream()
    assert worker.wait(3000)
    count = len(items)
    qtbot.wait(50)
    assert len(items) == count and items == list(range(1, count + 1))
    assert worker not in live_workers()


def test_cancel_token_wakes_a_waiting_task_and_runs_callbacks():
    token = CancelToken()
    calls = []
    token.on_cancel(lambda: calls.append("closed"))
    unregister = token.on_cancel(lambda: calls.append("unregistered"))
    unregister()
    threading.Timer(0.05, token.cancel).start()
    with pytest.raises(Cancelled):
        token.wait(10)
    assert calls == ["closed"]
    token.on_cancel(lambda: calls.append("late"))
    assert calls == ["closed", "late"]
