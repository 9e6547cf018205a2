"""Local mode in the app: with no connection profile, a local hub and agent, and the Quick Start.

The stack starts on a worker after the window is up; once it runs, its connection profile
("local") is saved in the profile book and the session resumes it like any other, and the
local agent's metrics stream joins the Monitoring page. The Quick Start runs on a worker
and reports each step; its traffic keeps flowing until the app closes, and the children
stop with the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import ModelfleetError
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.hub_session import ProfileBook
from modelfleet.desktop.services.metrics import AgentEndpoint
from modelfleet.desktop.viewmodels.monitoring import MonitoringViewModel
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import TaskFn, TaskWorker, WorkerSlot
from modelfleet.local import (
    LocalStack,
    LocalStackError,
    QuickStart,
    QuickStartResult,
    StackInfo,
    Step,
)

log = logging.getLogger(__name__)

LOCAL_PROFILE = "local"


def wants_local_mode(book: ProfileBook) -> bool:
    """No connection profile yet, or the one used last is the local hub's."""
    return not book.names() or book.last() == LOCAL_PROFILE


class LocalModeViewModel(QObject):
    """Starts the local stack and runs the Quick Start, each on its own worker."""

    stepped = Signal(object)  # modelfleet.local.Step
    stackReady = Signal(object)  # StackInfo
    quickStartReady = Signal(bool)  # whether the Quick Start can be started now
    quickStartFinished = Signal(object)  # QuickStartResult
    failed = Signal(str)

    def __init__(
        self,
        session: SessionViewModel,
        monitoring: MonitoringViewModel,
        stack: LocalStack | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.monitoring = monitoring
        # The session's credential store: the stack's sign-in is what `resume` then uses.
        self.stack = stack or LocalStack(store=session.service.store)
        self.info: StackInfo | None = None
        self.quickstart: QuickStart | None = None
        self._stack_slot = WorkerSlot(self)
        self._quickstart_slot = WorkerSlot(self)
        # Kept to wait for on quit: a worker may be stopping child processes then.
        self._workers: list[TaskWorker] = []
        self._closed = False

    def start(self) -> None:
        """Start (or reuse) the local hub and agent, then sign in to it."""
        stack, book = self.stack, self.session.book

        def start(token: CancelToken, progress: Progress) -> StackInfo:
            unregister = token.on_cancel(stack.cancel)
            try:
                info = stack.start(progress)
                book.save(LOCAL_PROFILE, stack.profile())
                return info
            except LocalStackError as exc:
                raise _readable(token, exc) from exc
            finally:
                unregister()

        self._run(self._stack_slot, "start local hub", start, self._on_stack_ready)

    def run_quick_start(self) -> None:
        if self.info is None or self.quickstart is not None:
            return
        quickstart = self.quickstart = QuickStart(self.stack)
        self.quickStartReady.emit(False)

        def run(token: CancelToken, progress: Progress) -> QuickStartResult:
            unregister = token.on_cancel(quickstart.cancel)
            try:
                return quickstart.run(progress)
            except (LocalStackError, TimeoutError, RuntimeError, InterruptedError) as exc:
                raise _readable(token, exc) from exc
            finally:
                unregister()

        self._run(self._quickstart_slot, "quick start", run, self.quickStartFinished.emit)

    def _run(self, slot: WorkerSlot, name: str, fn: TaskFn, done: Callable[[Any], None]) -> None:
        if self._closed:  # quitting already: start nothing that would outlive the app
            return
        worker = TaskWorker(name, fn)
        worker.progress.connect(self._on_progress)
        worker.succeeded.connect(done)
        worker.failed.connect(self._on_failed)
        self._workers = [w for w in self._workers if w.isRunning()] + [worker]
        slot.start(worker)

    def _on_progress(self, step: object) -> None:
        if isinstance(step, Step):
            self.stepped.emit(step)

    def _on_stack_ready(self, info: StackInfo) -> None:
        self.info = info
        self.stackReady.emit(info)
        self.session.resume(LOCAL_PROFILE)
        self.monitoring.add_agent(AgentEndpoint(info.grpc_target, self.stack.paths.control_token))
        self.quickStartReady.emit(True)

    def _on_failed(self, message: str) -> None:
        if self.quickstart is not None and self.info is not None:
            self.quickstart = None  # it stopped its traffic; it may be tried again
            self.quickStartReady.emit(True)
        self.failed.emit(message)

    def shutdown(self) -> None:
        """Cancel work in progress, stop the traffic, and stop the children if ours."""
        self._closed = True
        self._stack_slot.cancel()
        self._quickstart_slot.cancel()
        for worker in self._workers:
            worker.wait()  # a cancelled start stops the children it began (bounded waits)
        if self.quickstart is not None:
            self.quickstart.cancel()
            self.quickstart.stop()
        self.stack.stop()


def _readable(token: CancelToken, exc: Exception) -> ModelfleetError:
    """Quietly end a cancelled task; otherwise a message for the message bar."""
    token.raise_if_cancelled()
    return ModelfleetError(str(exc) or type(exc).__name__)
