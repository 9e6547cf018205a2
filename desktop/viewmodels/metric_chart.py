"""One metric of 1-10 runs as downsampled curves; zooming re-queries the visible steps.

The hub returns at most `MAX_POINTS` buckets per curve, each with its min/max envelope, so
a million-point curve costs the same as a short one; zooming in asks for the visible step
range again and gets finer buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from modelfleet.client import HubClient, Run
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.runs import Curve, curve_from_history
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

MAX_POINTS = 1000


@dataclass(frozen=True)
class ChartData:
    """Curves of `key`, one per run (label -> curve), over `steps` (None: everything)."""

    key: str
    curves: dict[str, Curve]
    steps: tuple[int, int] | None


class MetricChartViewModel(QObject):
    keysChanged = Signal(list)  # metric keys of the runs shown (sorted)
    curvesChanged = Signal(object)  # ChartData
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runs: list[Run] = []
        self.keys: list[str] = []
        self.key = ""
        self.steps: tuple[int, int] | None = None
        self.data: ChartData | None = None
        self._slot = WorkerSlot(self)
        self.failed.connect(session.errorRaised)

    def set_runs(self, runs: list[Run]) -> None:
        self.runs = runs
        self.keys = sorted({k for run in runs for k in run.metrics})
        self.keysChanged.emit(self.keys)
        key = self.key if self.key in self.keys else (self.keys[0] if self.keys else "")
        self.set_metric(key, force=True)

    def set_metric(self, key: str, force: bool = False) -> None:
        if key == self.key and not force:
            return
        self.key = key
        self.steps = None
        self._load()

    def zoom(self, first_step: float, last_step: float) -> None:
        """The view shows steps [first_step, last_step]: re-query that range at full detail."""
        full = self._full_range()
        lo, hi = int(max(first_step, 0)), int(last_step) + 1
        if full is not None and lo <= full[0] and hi >= full[1]:
            steps = None
        else:
            steps = (lo, max(hi, lo + 1))
        if steps != self.steps:
            self.steps = steps
            self._load()

    def _full_range(self) -> tuple[int, int] | None:
        last = [run.metrics[self.key].last_step for run in self.runs if self.key in run.metrics]
        return (0, max(last)) if last else None

    def _load(self) -> None:
        self._slot.cancel()
        key, steps = self.key, self.steps
        runs = [run for run in self.runs if key in run.metrics]
        if not runs:
            self.data = ChartData(key, {}, None)
            self.curvesChanged.emit(self.data)
            return
        labels, ws = _labels(runs), self.session.workspace

        def fetch(client: HubClient, token: CancelToken, _p: Progress) -> ChartData:
            curves = {}
            for run, label in zip(runs, labels, strict=True):
                token.raise_if_cancelled()
                start, end = steps if steps is not None else (0, 0)
                history = client.get_metric_history(
                    run.id, key, max_points=MAX_POINTS, start_step=start, end_step=end, workspace=ws
                )
                curves[label] = curve_from_history(history)
            return ChartData(key, curves, steps)

        self.session.run(self._slot, "metric history", fetch, self._on_data, self.failed.emit)

    def _on_data(self, data: ChartData) -> None:
        self.data = data
        self.curvesChanged.emit(data)

    def shutdown(self) -> None:
        self._slot.cancel()


def _labels(runs: list[Run]) -> list[str]:
    """Run names, made unique with a short id when two runs share a name."""
    names = [run.name or run.id[:8] for run in runs]
    return [
        name if names.count(name) == 1 else f"{name} ({run.id[:6]})"
        for name, run in zip(names, runs, strict=True)
    ]
