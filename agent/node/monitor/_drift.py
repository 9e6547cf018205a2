"""Drift accumulation off the event loop: a bounded hand-off per version and one worker thread.

The event loop only appends each answered batch's arrays (references, no copies) to its
version's hand-off list (dropping and counting when it is full, so serving never waits for
drift); every few hundred milliseconds the worker takes whatever has queued, concatenates it
once per tensor into one profile-ordered batch per model version, feeds the version's
DriftAccumulator once, then evaluates any window that closed. Few, large numpy steps keep
the worker's share of the GIL (which the event loop needs) small.

The hand-off holds only the batches' own arrays and input mappings (neither is tracked by
the cyclic garbage collector), not the requests: request objects, futures and per-request
arrays kept for a drain interval would be promoted to the oldest generation (full
collections every couple of seconds) and keep thousands of small objects alive, so that the
event loop's allocations for every request would land in cold memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelfleet.agent.node.monitor._columns import ColumnPlan
from modelfleet.drift import DriftAccumulator, DriftConfig, DriftReport, DriftWindow, evaluate
from modelfleet.profile import ReferenceProfile

log = logging.getLogger(__name__)
#: batches waiting for the worker per version (more are dropped and counted)
DEFAULT_QUEUE = 4096
DEFAULT_RING = 64
#: share of one core that evaluating closed windows may use; windows that close faster wait
#: (the oldest waiting ones are skipped and counted once PENDING_WINDOWS are waiting)
EVALUATION_BUDGET = 0.02
PENDING_WINDOWS = 4
#: how often an idle worker looks for windows whose evaluation is due
TICK_S = 0.25
#: the worker waits this long between drains so that a busy stream arrives in large batches
#: (each drain costs a fixed number of numpy calls, whatever the number of requests)
DRAIN_INTERVAL_S = 0.25

Tensors = dict[str, np.ndarray]


class DriftTracker:
    """One model version's open window and its recent window reports (a bounded ring).

    Closed windows are evaluated within EVALUATION_BUDGET. While a closed window waits for
    that budget, arriving requests are not accumulated: a window filled meanwhile could
    only be evaluated after the waiting one, by which time newer windows would have closed,
    so accumulating it would be work thrown away. The rows are counted (`rows_skipped`)
    and the next window starts, from scratch, with the first drain after the evaluation. At
    low rates every window is evaluated as it closes and nothing is skipped; under heavy
    traffic drift is measured on whole windows of consecutive rows, as many as the budget
    allows, and accumulating costs little more than evaluating. (The event loop stops
    handing batches over while `waiting`.)
    """

    def __init__(
        self,
        profile: ReferenceProfile,
        config: DriftConfig,
        feature_names: Sequence[str] | None,
        ring: int = DEFAULT_RING,
    ) -> None:
        self.accumulator = DriftAccumulator(profile, config)
        self.profile = profile
        self.feature_names = feature_names
        self.reports: deque[DriftReport] = deque(maxlen=ring)
        #: windows evaluated (each has a report)
        self.windows_closed = 0
        #: windows closed while PENDING_WINDOWS others waited for evaluation (not reported)
        self.windows_skipped = 0
        #: rows not accumulated because a closed window was waiting for evaluation
        self.rows_skipped = 0
        self._pending: deque[DriftWindow] = deque()
        self._next_evaluation = 0.0
        self._columns: ColumnPlan | None = None
        #: per profile tensor: (name, is an input, output index)
        self._picks: list[tuple[str, bool, int]] = []

    @property
    def last(self) -> DriftReport | None:
        return self.reports[-1] if self.reports else None

    @property
    def waiting(self) -> bool:
        """A closed window waits for the evaluation budget (arriving requests are skipped)."""
        return bool(self._pending)

    @property
    def rows_in_open_window(self) -> int:
        window = self.accumulator.current
        return window.n_rows if window is not None else 0

    def update(
        self, inputs: list[Tensors], outputs: list[list[np.ndarray]], output_names: list[str]
    ) -> list[DriftReport]:
        """Worker thread: fold queued batches in (`inputs`: one mapping per batch;
        `outputs`: per output, in `output_names` order, one array per batch); return the
        windows that closed."""
        if self._columns is None:
            firsts = [arrays[0] for arrays in outputs]
            sources = [*inputs[0].items(), *zip(output_names, firsts, strict=True)]
            self._columns = ColumnPlan(self.profile, sources, self.feature_names)
            self._picks = [
                (t, t in inputs[0], output_names.index(t) if t not in inputs[0] else -1)
                for t in self._columns.tensors
            ]
        reports = self.evaluate_due()
        if self._pending:  # still waiting for the evaluation budget
            self.rows_skipped += sum(_rows(ins) for ins in inputs)
            return reports
        arrays: Tensors = {}
        for tensor, is_input, j in self._picks:
            parts = [ins[tensor] for ins in inputs] if is_input else outputs[j]
            arrays[tensor] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        for window in self.accumulator.update(self._columns.gather(arrays)):
            if len(self._pending) == PENDING_WINDOWS:
                self._pending.popleft()
                self.windows_skipped += 1
            self._pending.append(window)
        reports += self.evaluate_due()
        if self._pending:
            # The rows after the boundary would wait with the window: drop them, so that
            # the next window holds consecutive rows only.
            self.accumulator.flush()
        return reports

    def evaluate_due(self) -> list[DriftReport]:
        """Worker thread: evaluate waiting windows while within the evaluation budget.

        A window's evaluation costs milliseconds whatever its size, so under heavy traffic
        (many small windows a second) evaluating every one would take a large share of the
        CPU that serving needs; spacing evaluations by their cost bounds that share.
        """
        reports = []
        while self._pending and time.monotonic() >= self._next_evaluation:
            started = time.monotonic()
            reports.append(evaluate(self._pending.popleft()))
            finished = time.monotonic()
            self._next_evaluation = finished + (finished - started) / EVALUATION_BUDGET
        self.reports.extend(reports)
        self.windows_closed += len(reports)
        return reports


class HandOff:
    """One version's answered batches on their way from the event loop to the worker.

    A flat list of references, `stride` per batch (the input mapping, then every output
    array): the event loop appends one batch with one append and one extend; the worker
    takes the complete batches from the front with one slice and one deletion. Both are
    single list operations under the GIL, and the worker never takes a batch whose outputs
    are not all there yet, so no lock is needed.
    """

    def __init__(self, outputs: int, capacity: int = DEFAULT_QUEUE) -> None:
        self.stride = 1 + outputs
        self._limit = capacity * self.stride
        self._items: list[Any] = []

    def put(self, inputs: Tensors, outputs: list[np.ndarray]) -> bool | None:
        """Event loop: queue one batch; False when full (nothing queued), True when the
        list was empty before (the worker may be waiting), None otherwise."""
        items = self._items
        size = len(items)
        if size >= self._limit:
            return False
        items.append(inputs)
        items.extend(outputs)
        return True if size == 0 else None

    def take(self) -> tuple[list[Tensors], list[list[np.ndarray]]]:
        """Worker thread: the queued batches' input mappings and, per output, their arrays."""
        items = self._items
        stride = self.stride
        n = len(items) // stride * stride
        if n == 0:
            return [], []
        taken = items[:n]
        del items[:n]
        return taken[::stride], [taken[j::stride] for j in range(1, stride)]


def _rows(inputs: Tensors) -> int:
    first = next(iter(inputs.values()), None)
    return 0 if first is None else first.shape[0] if first.ndim else 1


class DriftWorker:
    """The single thread that runs every version's drift accumulation.

    `drain` takes whatever has queued for every version and returns whether it found any;
    after a drain that found some, the worker waits `interval_s` before the next one, so a
    busy stream arrives in large batches; when one found none it sleeps until woken (or a
    tick passes, so that windows waiting for evaluation are evaluated when traffic stops).
    """

    def __init__(self, drain: Callable[[], bool], interval_s: float = DRAIN_INTERVAL_S) -> None:
        self._drain = drain
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="drift", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Event loop: something was queued into an empty hand-off."""
        if not self._wake.is_set():
            self._wake.set()

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(TICK_S)
            self._wake.clear()
            while not self._stopped:
                try:
                    found = self._drain()
                except Exception:  # drift must never take the worker (or serving) down
                    log.exception("drift accumulation failed")
                    found = False
                if not found:
                    break
                time.sleep(self._interval_s)
