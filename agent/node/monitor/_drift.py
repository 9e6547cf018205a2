"""Drift accumulation off the event loop: a bounded hand-off queue and one worker thread.

The event loop only appends a request's tensors to a deque (dropping and counting when it is
full, so serving never waits for drift); the worker drains whatever has queued, gathers it
into one profile-ordered batch per model version and feeds the version's DriftAccumulator
once, then evaluates any window that closed.
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
from modelfleet.drift import DriftAccumulator, DriftConfig, DriftReport, evaluate
from modelfleet.profile import ReferenceProfile

log = logging.getLogger(__name__)
DEFAULT_QUEUE = 4096
DEFAULT_RING = 64
#: the worker waits this long between drains so that a busy stream arrives in large batches
_DRAIN_INTERVAL_S = 0.05

Tensors = dict[str, np.ndarray]


class DriftTracker:
    """One model version's open window and its recent window reports (a bounded ring)."""

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
        self.windows_closed = 0
        self._columns: ColumnPlan | None = None

    @property
    def last(self) -> DriftReport | None:
        return self.reports[-1] if self.reports else None

    @property
    def rows_in_open_window(self) -> int:
        window = self.accumulator.current
        return window.n_rows if window is not None else 0

    def update(self, batches: list[tuple[Tensors, Tensors]]) -> list[DriftReport]:
        """Worker thread: fold queued requests (inputs, outputs) in; return closed windows."""
        first_inputs, first_outputs = batches[0]
        if self._columns is None:
            sources = [*first_inputs.items(), *first_outputs.items()]
            self._columns = ColumnPlan(self.profile, sources, self.feature_names)
        names = self._columns.tensors
        if len(batches) == 1:
            merged = {**first_inputs, **first_outputs}
            arrays = {t: merged[t] for t in names}
        else:
            arrays = {
                t: np.concatenate([ins[t] if t in ins else outs[t] for ins, outs in batches])
                for t in names
            }
        closed = self.accumulator.update(self._columns.gather(arrays))
        reports = [evaluate(window) for window in closed]
        self.reports.extend(reports)
        self.windows_closed += len(reports)
        return reports


class DriftWorker:
    """The single thread that runs every version's drift accumulation."""

    def __init__(self, capacity: int = DEFAULT_QUEUE) -> None:
        self.capacity = capacity
        self._queue: deque[tuple[Any, Tensors, tuple[list[str], list[np.ndarray]]]] = deque()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="drift", daemon=True)
        self._thread.start()

    def offer(
        self, owner: Any, inputs: Tensors, outputs: tuple[list[str], list[np.ndarray]]
    ) -> bool:
        """Event loop: queue one request (its inputs, output names and outputs); False
        (nothing queued) when the queue is full."""
        if len(self._queue) >= self.capacity:
            return False
        self._queue.append((owner, inputs, outputs))
        if not self._wake.is_set():
            self._wake.set()
        return True

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        queue = self._queue
        while not self._stopped:
            self._wake.wait()
            self._wake.clear()
            while queue and not self._stopped:
                groups: dict[int, tuple[Any, list[tuple[Tensors, Tensors]]]] = {}
                for _ in range(len(queue)):
                    owner, inputs, (names, outputs) = queue.popleft()
                    named = dict(zip(names, outputs, strict=True))
                    groups.setdefault(id(owner), (owner, []))[1].append((inputs, named))
                for owner, batches in groups.values():
                    _process(owner.drift_batches, batches)
                time.sleep(_DRAIN_INTERVAL_S)


def _process(
    handler: Callable[[list[tuple[Tensors, Tensors]]], None],
    batches: list[tuple[Tensors, Tensors]],
) -> None:
    try:
        handler(batches)
    except Exception:  # drift must never take the worker (or serving) down
        log.exception("drift accumulation failed")
