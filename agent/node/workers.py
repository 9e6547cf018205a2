"""The agent's shared model-run threads.

A plain queue and a few threads rather than a ThreadPoolExecutor: a job carries its own
callback, so there is no Future, lock or condition per job. At thousands of small batches
a second that bookkeeping cost more of the event loop than the hand-off itself (a round
trip measured ~11 us of loop CPU through the executor against ~3 us here).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: called on the worker thread with the job's result, or None and the exception it raised
Done = Callable[[Any, BaseException | None], None]


class ModelWorkers:
    """`workers` threads running jobs in the order they were submitted.

    The threads are daemons, but the interpreter waits at exit for the runs in progress
    (ONNX Runtime aborts the process if it is torn down under a running session); jobs
    still queued then are dropped.
    """

    def __init__(self, workers: int, name: str = "model") -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[Any], Any], Any, Done] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()
        _LIVE.add(self)

    def submit(self, fn: Callable[[Any], Any], arg: Any, done: Done) -> None:
        """Run `fn(arg)` on a worker, then `done(result, error)` on that worker."""
        if self._closed:
            raise RuntimeError("the model workers are shut down")
        self._jobs.put((fn, arg, done))

    def shutdown(self) -> None:
        """Stop taking jobs and drop the queued ones; runs in progress finish."""
        if self._closed:
            return
        self._closed = True
        try:
            while True:
                self._jobs.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._jobs.put(None)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, arg, done = job
            try:
                result = fn(arg)
            except BaseException as exc:  # handed to the submitter, never lost
                error: BaseException | None = exc
                result = None
            else:
                error = None
            try:
                done(result, error)
            except Exception:
                log.exception("model job callback failed")


_LIVE: weakref.WeakSet[ModelWorkers] = weakref.WeakSet()


@atexit.register
def _finish_runs() -> None:
    for workers in list(_LIVE):
        workers.shutdown()
        workers.join()
