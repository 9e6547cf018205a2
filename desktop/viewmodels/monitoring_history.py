"""History from the hub for the Monitoring page: metric roll-ups over a range (charted like
the live series) and the drift windows of the same range as a features x windows matrix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from modelfleet.client import HubClient
from modelfleet.desktop.series import FloatArray, peak_envelope
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.drift_view import (
    DriftMatrix,
    history_columns,
    step_for,
)
from modelfleet.desktop.viewmodels.monitoring import HISTORY_DISPLAY_POINTS
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

DRIFT_WINDOW_LIMIT = 1000  # the hub's cap per query


@dataclass(frozen=True, order=True)
class Target:
    """A deployment in one environment."""

    name: str
    environment: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.environment})"


@dataclass(frozen=True)
class HistoryData:
    """Chart columns per model version (a peak envelope when long), and what they cover."""

    target: Target
    since: datetime
    until: datetime
    step_s: int
    columns: dict[int, FloatArray]
    buckets: int


class MonitoringHistoryViewModel(QObject):
    deploymentsChanged = Signal(list)  # list[Target]
    loadingChanged = Signal(bool)
    historyLoaded = Signal(object)  # HistoryData
    driftLoaded = Signal(object)  # DriftMatrix
    cellSelected = Signal(object)  # DriftCell
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.targets: list[Target] = []
        self.history: HistoryData | None = None
        self.drift: DriftMatrix | None = None
        self._pending = 0
        self._slots = {name: WorkerSlot(self) for name in ("targets", "history", "drift")}
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    def reload(self, _workspace: str = "") -> None:
        """List the workspace's deployments (what history can be asked about)."""
        self.history, self.drift = None, None
        if not self.session.permissions.signed_in or not self.session.workspace:
            self._set_targets([])
            return
        ws = self.session.workspace

        def fetch(client: HubClient, _t: CancelToken, _p: Progress) -> list[Target]:
            found = client.list_deployments(include_undeployed=True, workspace=ws)
            return sorted({Target(d.name, d.environment) for d in found})

        self.session.run(
            self._slots["targets"], "list deployments", fetch, self._set_targets, self.failed.emit
        )

    def _set_targets(self, targets: list[Target]) -> None:
        self.targets = targets
        self.deploymentsChanged.emit(targets)

    def load(self, target: Target, since: datetime, until: datetime) -> None:
        """Query metrics and drift windows of `target` over [since, until) on two workers."""
        if since >= until:
            self.failed.emit("Range: expected the start before the end")
            return
        ws = self.session.workspace
        step = step_for(since, until)

        def metrics(client: HubClient, token: CancelToken, _p: Progress) -> HistoryData:
            points = client.query_metrics(
                target.name, target.environment, since, until, step, workspace=ws
            )
            token.raise_if_cancelled()
            columns = {
                version: peak_envelope(cols, HISTORY_DISPLAY_POINTS)
                for version, cols in history_columns(points, step).items()
            }
            return HistoryData(target, since, until, step, columns, len(points))

        def drift(client: HubClient, _t: CancelToken, _p: Progress) -> DriftMatrix:
            records = client.query_drift(
                target.name, target.environment, since, until, limit=DRIFT_WINDOW_LIMIT,
                workspace=ws,
            )  # fmt: skip
            return DriftMatrix.of(records)

        self._pending = 2
        self.loadingChanged.emit(True)
        self.session.run(
            self._slots["history"], "query metrics", metrics, self._on_history, self._on_failed
        )
        self.session.run(
            self._slots["drift"], "query drift", drift, self._on_drift, self._on_failed
        )

    def _on_history(self, data: HistoryData) -> None:
        self.history = data
        self.historyLoaded.emit(data)
        self._done()

    def _on_drift(self, matrix: DriftMatrix) -> None:
        self.drift = matrix
        self.driftLoaded.emit(matrix)
        self._done()

    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)
        self._done()

    def _done(self) -> None:
        self._pending = max(0, self._pending - 1)
        if self._pending == 0:
            self.loadingChanged.emit(False)

    def select_cell(self, feature: int, window: int) -> None:
        """Show one feature's histograms and verdict in one drift window."""
        matrix = self.drift
        if matrix is None or not (
            0 <= feature < len(matrix.features) and 0 <= window < len(matrix.windows)
        ):
            return
        self.cellSelected.emit(matrix.cell(feature, window))

    def shutdown(self) -> None:
        for slot in self._slots.values():
            slot.cancel()
