"""Per model-version request queue: dynamic batching and off-loop model runs.

Requests are queued on the event loop. A dispatcher takes up to `max_batch_size` rows of
compatible requests (same non-batch dimensions), concatenates them, runs the model once
in the shared worker pool and splits the outputs back; with `max_queue_delay_us` 0 it
takes only what is already queued, as Triton does. While one run of a model is in the
pool the queue grows into the next batch; a further concurrent run (up to
`concurrency`) starts only once a full batch is waiting, so light models get large
batches and few thread hand-offs while heavy ones still use every worker.

An optional batch hook (monitoring) is told on the event loop about every batch that ran,
before its requests are answered: the requests' tags, the batch's inputs and its outputs,
so that per-batch work is done once per batch rather than once per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from modelfleet.agent.node.errors import ServingError
from modelfleet.agent.node.metrics import ModelStats
from modelfleet.agent.node.repository import Batching
from modelfleet.agent.node.workers import ModelWorkers

log = logging.getLogger(__name__)
Outputs = list[np.ndarray]
Inputs = dict[str, np.ndarray]
RunFn = Callable[[Inputs], Outputs]
#: (tags, inputs, outputs, rows): requests whose rows follow each other in the arrays, the
#: rows of request i being `rows[i]` (None: all of them, for a batch of one)
BatchHook = Callable[[list[Any], Inputs, Outputs, list[int | None]], None]


class _Item:
    __slots__ = ("enqueued", "future", "inputs", "key", "rows", "tag", "weight")

    def __init__(
        self,
        inputs: Inputs,
        rows: int | None,
        future: asyncio.Future[Outputs],
        tag: Any,
    ) -> None:
        self.inputs = inputs
        self.rows = rows
        self.future = future
        self.tag = tag
        self.weight = rows or 1
        self.enqueued = time.perf_counter()
        # Only requests whose tensors agree beyond the first dimension can be stacked.
        self.key = tuple(a.shape[1:] for a in inputs.values()) if rows is not None else None


# (per-item outputs or error, the whole batch's inputs and outputs when it ran as one,
#  start of the run, seconds spent in the model)
_RunResult = tuple[list[Outputs | ServingError], tuple[Inputs, Outputs] | None, float, float]


class Batcher:
    """Queues requests of one model version and runs them, batched when allowed."""

    def __init__(
        self,
        run: RunFn,
        pool: ModelWorkers,
        batching: Batching,
        stats: ModelStats,
        concurrency: int,
        on_batch: BatchHook | None = None,
    ) -> None:
        self._run_model = run
        self._on_batch = on_batch
        self._pool = pool
        self._max_rows = batching.max_batch_size if batching.enabled else 0
        self._delay = batching.max_queue_delay_us / 1e6
        self._stats = stats
        self._concurrency = max(1, concurrency)
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._running = 0
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def submit(self, inputs: Inputs, rows: int | None, tag: Any = None) -> asyncio.Future[Outputs]:
        """Queue a request; `rows` is None when it cannot be stacked with others; `tag` is
        passed to the batch hook."""
        future: asyncio.Future[Outputs] = self._loop.create_future()
        if not self._max_rows:
            rows = None
        item = _Item(inputs, rows, future, tag)
        self._queue.append(item)
        self._queued_rows += item.weight
        if self._timer is not None and self._queued_rows >= self._max_rows:
            self._timer.cancel()
            self._timer = None
        if self._timer is None and self._may_start():
            self._dispatch()
        return future

    def _may_start(self) -> bool:
        if not self._running:
            return True
        if self._running >= self._concurrency:
            return False
        return not self._max_rows or self._queued_rows >= self._max_rows

    def _dispatch(self) -> None:
        self._timer = None
        queue = self._queue
        while queue and self._may_start():
            if self._delay and self._queued_rows < self._max_rows:
                wait = queue[0].enqueued + self._delay - time.perf_counter()
                if wait > 0:
                    self._timer = self._loop.call_later(wait, self._dispatch)
                    return
            batch = self._take()
            if batch:
                self._running += 1
                self._pool.submit(self._execute, batch, partial(self._hand_back, batch))

    def _take(self) -> list[_Item]:
        """Pop the next batch, skipping requests already answered (deadline passed)."""
        queue = self._queue
        first = queue.popleft()
        self._queued_rows -= first.weight
        batch = [first] if not first.future.done() else []
        if first.rows is None:
            return batch
        rows = first.rows
        while queue and queue[0].key == first.key and rows + (queue[0].rows or 0) <= self._max_rows:
            item = queue.popleft()
            self._queued_rows -= item.weight
            if not item.future.done():
                batch.append(item)
                rows += item.rows or 0
        return batch

    def _execute(self, batch: list[_Item]) -> _RunResult:
        """Worker thread: one model run for the whole batch, split per request."""
        start = time.perf_counter()
        whole: tuple[Inputs, Outputs] | None = None
        if len(batch) == 1:
            result = self._run_one(batch[0].inputs)
            results = [result]
            if not isinstance(result, ServingError):
                whole = batch[0].inputs, result
        else:
            names = batch[0].inputs.keys()
            feed = {n: np.concatenate([item.inputs[n] for item in batch]) for n in names}
            try:
                outputs = self._run_model(feed)
            except ServingError:
                # One bad request must not fail its neighbours: retry them one by one.
                results = [self._run_one(item.inputs) for item in batch]
            else:
                whole = feed, outputs
                results = []
                offset = 0
                for item in batch:
                    end = offset + (item.rows or 0)
                    results.append([out[offset:end] for out in outputs])
                    offset = end
        return results, whole, start, time.perf_counter() - start

    def _run_one(self, inputs: Inputs) -> Outputs | ServingError:
        try:
            return self._run_model(inputs)
        except ServingError as exc:
            return exc

    def _hand_back(
        self, batch: list[_Item], result: _RunResult | None, error: BaseException | None
    ) -> None:
        """Worker thread: wake the loop to deliver the results."""
        self._loop.call_soon_threadsafe(self._finished, batch, result, error)

    def _finished(
        self, batch: list[_Item], run: _RunResult | None, error: BaseException | None
    ) -> None:
        self._running -= 1
        if run is None:  # a bug in splitting; answer everyone, never hang them
            failure = error or RuntimeError("the model run returned nothing")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(failure)
        else:
            results, whole, start, compute = run
            if self._on_batch is not None:
                self._tell(batch, results, whole)
            stats = self._stats
            stats.batch_size.observe(sum(item.weight for item in batch))
            stats.compute.observe_many(compute, len(batch))
            queue = stats.queue
            for item, result in zip(batch, results, strict=True):
                queue.observe(start - item.enqueued)
                if item.future.done():
                    continue
                if isinstance(result, ServingError):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
        if self._queue and self._timer is None:
            self._dispatch()

    def _tell(
        self,
        batch: list[_Item],
        results: list[Outputs | ServingError],
        whole: tuple[Inputs, Outputs] | None,
    ) -> None:
        """The batch hook, once for a batch that ran as one, else once per answered request."""
        assert self._on_batch is not None
        try:
            if whole is not None:
                self._on_batch([item.tag for item in batch], *whole, [i.rows for i in batch])
                return
            for item, result in zip(batch, results, strict=True):
                if not isinstance(result, ServingError):
                    self._on_batch([item.tag], item.inputs, result, [None])
        except Exception:  # monitoring must never keep requests from their answers
            log.exception("batch hook failed")

    @property
    def idle(self) -> bool:
        return not self._queue and not self._running

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
