"""Worker threads: every RPC, stream and file read of the desktop runs in one of these.

A `Worker` runs one task with its own `CancelToken`; its public signals are emitted on the
GUI thread and never after `cancel()`, so a slot cannot receive a stale result. A
`WorkerSlot` is what a widget or view-model owns: starting a worker in it cancels the one
before. Running workers are kept alive here (a QThread collected while running would
crash the process) and listed by `live_workers()` for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from PySide6.QtCore import QObject, Qt, QThread, Signal

from modelfleet.client import ModelfleetError
from modelfleet.desktop.services.cancel import Cancelled, CancelToken

log = logging.getLogger(__name__)

_live: set[Worker] = set()

TaskFn = Callable[[CancelToken, Callable[[object], None]], object]
StreamFn = Callable[[CancelToken], Iterator[object]]


def live_workers() -> list[Worker]:
    """Workers whose thread is still running."""
    return [worker for worker in _live if worker.isRunning()]


class Worker(QThread):
    """Base: cancellation, error reporting and GUI-thread delivery of results."""

    failed = Signal(str)
    # Thread-side signals: queued to this object, which lives on the GUI thread.
    _deliver = Signal(str, object)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.token = CancelToken()
        self._deliver.connect(self._on_deliver, Qt.ConnectionType.QueuedConnection)
        self.finished.connect(self._on_finished)

    def start_work(self) -> None:
        _live.add(self)
        self.start()

    def cancel(self) -> None:
        """Ask the task to stop; from now on no public signal of this worker fires."""
        self.token.cancel()

    def run(self) -> None:
        try:
            self.execute()
        except Cancelled:
            pass
        except ModelfleetError as exc:
            self._deliver.emit("failed", str(exc))
        except Exception as exc:
            # A bug, not a service answer: keep the traceback in the log, show one line.
            log.exception("[worker %s] task failed", self.objectName())
            self._deliver.emit("failed", f"{self.objectName()} failed unexpectedly: {exc}")

    def execute(self) -> None:
        raise NotImplementedError

    def _on_deliver(self, kind: str, payload: object) -> None:
        if not self.token.cancelled:
            self._emit_public(kind, payload)

    def _emit_public(self, kind: str, payload: object) -> None:
        if kind == "failed":
            self.failed.emit(payload)

    def _on_finished(self) -> None:
        _live.discard(self)


class TaskWorker(Worker):
    """Runs `fn(token, report_progress)` once; emits `succeeded(result)` or `failed(message)`."""

    succeeded = Signal(object)
    progress = Signal(object)

    def __init__(self, name: str, fn: TaskFn) -> None:
        super().__init__(name)
        self._fn = fn

    def execute(self) -> None:
        result = self._fn(self.token, lambda value: self._deliver.emit("progress", value))
        self._deliver.emit("succeeded", result)

    def _emit_public(self, kind: str, payload: object) -> None:
        if kind == "succeeded":
            self.succeeded.emit(payload)
        elif kind == "progress":
            self.progress.emit(payload)
        else:
            super()._emit_public(kind, payload)


class StreamWorker(Worker):
    """Iterates `fn(token)` and emits `item(value)` for each value until told to quit."""

    item = Signal(object)

    def __init__(self, name: str, fn: StreamFn) -> None:
        super().__init__(name)
        self._fn = fn

    def execute(self) -> None:
        stream = self._fn(self.token)
        try:
            for value in stream:
                self.token.raise_if_cancelled()
                self._deliver.emit("item", value)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def quit_stream(self) -> None:
        self.cancel()

    def _emit_public(self, kind: str, payload: object) -> None:
        if kind == "item":
            self.item.emit(payload)
        else:
            super()._emit_public(kind, payload)


class WorkerSlot(QObject):
    """One task at a time for its owner: `start` cancels the previous worker first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._current: Worker | None = None

    @property
    def current(self) -> Worker | None:
        return self._current

    def start(self, worker: Worker) -> None:
        self.cancel()
        self._current = worker
        worker.start_work()

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel()
            self._current = None


def shutdown_workers(timeout_ms: int = 5000) -> bool:
    """Cancel every live worker and wait for them; False if one did not stop in time."""
    workers = live_workers()
    for worker in workers:
        worker.cancel()
    return all(worker.wait(timeout_ms) for worker in workers)
