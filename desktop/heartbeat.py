"""A GUI-thread heartbeat: a fast timer whose longest gap between ticks is the longest stall."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class GuiHeartbeat(QObject):
    """Ticks every `interval_ms` on the GUI thread and records the longest gap between ticks.

    A gap much longer than the interval means the event loop was blocked that long;
    `worst_gap_cpu_ms`, the GUI thread's own CPU time inside the longest gap, tells its own
    work (about the gap) from waiting for the interpreter lock or a core (little CPU).
    """

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self._last_cpu = 0.0
        self.longest_gap_ms = 0.0
        self.worst_gap_cpu_ms = 0.0
        self.ticks = 0
        self.gaps_ms: list[float] = []

    def start(self) -> None:
        self.longest_gap_ms = 0.0
        self.worst_gap_cpu_ms = 0.0
        self.ticks = 0
        self.gaps_ms = []
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def gap_percentile_ms(self, q: float) -> float:
        """The q-th percentile (0..100) of the gaps between ticks; 0 before the first tick."""
        if not self.gaps_ms:
            return 0.0
        ordered = sorted(self.gaps_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100.0))]

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap = (now - self._last) * 1000.0
        self.gaps_ms.append(gap)
        if gap > self.longest_gap_ms:
            self.longest_gap_ms = gap
            self.worst_gap_cpu_ms = (cpu - self._last_cpu) * 1000.0
        self._last, self._last_cpu = now, cpu
        self.ticks += 1
