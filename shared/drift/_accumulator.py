"""Tumbling drift windows over a stream of batches, closed by row count and/or time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from modelfleet.drift._config import DriftConfig
from modelfleet.drift._evaluate import evaluate
from modelfleet.drift._plan import DriftPlan
from modelfleet.drift._report import DriftReport
from modelfleet.drift._window import DriftWindow
from modelfleet.profile import ReferenceProfile


class DriftAccumulator:
    """Feed batches with `update`; each closed window comes back as a `DriftWindow`.

    Evaluating a closed window (`evaluate(window)` or `report(window)`) costs a few
    milliseconds and can run off the serving path. A batch that crosses a row boundary is
    split, so every window but the last holds exactly `window_rows` rows.
    """

    def __init__(
        self,
        profile: ReferenceProfile,
        config: DriftConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.plan = DriftPlan(profile, config or DriftConfig())
        self._clock = clock
        self._seeds = np.random.SeedSequence(seed)
        self._window: DriftWindow | None = None

    @property
    def config(self) -> DriftConfig:
        return self.plan.config

    @property
    def current(self) -> DriftWindow | None:
        """The open window, if any rows arrived since the last close."""
        return self._window

    def update(self, batch: Any, now: float | None = None) -> list[DriftWindow]:
        """Add a batch (see DriftWindow.update) and return the windows it closed."""
        now = self._clock() if now is None else now
        closed = []
        window_seconds = self.config.window_seconds
        if (
            self._window is not None
            and window_seconds is not None
            and now - self._window.started_at >= window_seconds
        ):
            closed.append(self._close())
        limit = self.config.window_rows
        rows = _rows(batch)
        start = 0
        while start < rows or (rows == 0 and start == 0):
            window = self._open(now)
            take = rows - start if limit is None else min(rows - start, limit - window.n_rows)
            window.update(batch if take == rows else _slice(batch, start, start + take))
            window.ended_at = now
            start += take
            if limit is not None and window.n_rows >= limit:
                closed.append(self._close())
            if rows == 0:
                break
        return closed

    def flush(self, now: float | None = None) -> DriftWindow | None:
        """Close the open window early (e.g. at shutdown); None when it is empty."""
        if self._window is None:
            return None
        self._window.ended_at = self._clock() if now is None else now
        return self._close()

    def report(self, window: DriftWindow) -> DriftReport:
        return evaluate(window)

    def _open(self, now: float) -> DriftWindow:
        if self._window is None:
            seed = int(self._seeds.spawn(1)[0].generate_state(1)[0])
            self._window = DriftWindow(self.plan, seed=seed, started_at=now)
        return self._window

    def _close(self) -> DriftWindow:
        window = self._window
        assert window is not None
        self._window = None
        return window


def _rows(batch: Any) -> int:
    if hasattr(batch, "shape"):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        return len(next(iter(batch.values()))) if batch else 0
    return len(batch)


def _slice(batch: Any, start: int, stop: int) -> Any:
    if isinstance(batch, np.ndarray):
        return batch[start:stop]
    if hasattr(batch, "iloc"):
        return batch.iloc[start:stop]
    return {name: np.asarray(column)[start:stop] for name, column in batch.items()}
