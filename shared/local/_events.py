"""Progress events of local mode, plain data so the terminal and the desktop can both show them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("modelfleet.local")

STARTED = "started"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Step:
    """One step's change: `state` is "started", "done" or "failed"; `elapsed_s` counts from
    the start of the whole operation (stack start or Quick Start)."""

    name: str
    state: str
    message: str
    elapsed_s: float


OnStep = Callable[[Step], None]


class Reporter:
    """Sends `Step`s to a callback (which must not block: it runs on the working thread)."""

    def __init__(self, on_step: OnStep | None) -> None:
        self._on_step = on_step
        self._t0 = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0

    def __call__(self, name: str, state: str, message: str) -> None:
        step = Step(name, state, message, round(self.elapsed_s, 3))
        log.info("[%s] %s: %s (%.1f s)", name, state, message, step.elapsed_s)
        if self._on_step is not None:
            self._on_step(step)
