"""The Experiments page's state: experiments, the paged runs table, selection, compare, comments.

Every query goes to the hub (filter and order are SearchRuns' own); a new query cancels the
page in flight. `first_page_ms` is measured from the request to the rows being in the
model, which is what a person waits for.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import Comment, Experiment, HubClient, Run, RunComparison
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.runs import RunColumn, RunQuery, RunRows, search_page
from modelfleet.desktop.viewmodels.metric_chart import MetricChartViewModel
from modelfleet.desktop.viewmodels.runs_table import RunsTableModel
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

FIRST_PAGE = 200
# Later pages stay small: each is converted on a worker that shares the GIL with the GUI.
NEXT_PAGES = 200
MAX_COMPARE = 10


class ExperimentsViewModel(QObject):
    experimentsChanged = Signal(list)  # list[Experiment]
    queryChanged = Signal(object)  # RunQuery
    loadingChanged = Signal(bool)
    pageLoaded = Signal(int, int, bool)  # rows loaded, runs matching in total, estimated
    selectionChanged = Signal(list)  # list[Run] selected
    comparisonChanged = Signal(object)  # RunComparison | None
    commentsChanged = Signal(list)  # list[Comment] of the current run
    statusChanged = Signal(str)
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.experiments: list[Experiment] = []
        self.query = RunQuery()
        self.selected: list[Run] = []
        self.comparison: RunComparison | None = None
        self.comments: list[Comment] = []
        self.loading = False
        self.total = 0
        # The total is the hub's estimate, not a count (large PostgreSQL results).
        self.total_is_estimate = False
        self.first_page_ms: float | None = None
        self._next_token: str | None = None
        self._started = False
        self._requested_at = 0.0
        self.model = RunsTableModel(self._can_fetch_more, self.load_more, self.sort, self)
        self.chart = MetricChartViewModel(session, self)
        self._slots = {n: WorkerSlot(self) for n in ("exps", "page", "compare", "notes", "act")}
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    # --- experiments and the query ----------------------------------------------------------

    def reload(self, _workspace: str = "") -> None:
        """Experiments and the first page again (after sign-in or a workspace switch)."""
        self.query = RunQuery(filter=self.query.filter, order_by=self.query.order_by)
        self._set_selected([])
        if not self.session.permissions.signed_in:
            self.experiments = []
            self.experimentsChanged.emit([])
            self._restart()
            return

        ws = self.session.workspace

        def fetch(client: HubClient, _t: CancelToken, _p: Progress) -> list[Experiment]:
            return list(client.list_experiments(page_size=1000, workspace=ws).items)

        self.session.run(self._slots["exps"], "list experiments", fetch, self._on_experiments,
                         self.failed.emit)  # fmt: skip
        self._restart()

    def _on_experiments(self, experiments: list[Experiment]) -> None:
        self.experiments = experiments
        self.experimentsChanged.emit(experiments)

    def set_experiment(self, experiment: str) -> None:
        """Show runs of one experiment (id or name); "" shows every experiment's runs."""
        self._requery(RunQuery((experiment,) if experiment else (), self.query.filter,
                               self.query.order_by))  # fmt: skip

    def set_filter(self, text: str) -> None:
        """A SearchRuns filter, e.g. `metrics.auc > 0.9 and params.lr = '0.01'`."""
        self._requery(RunQuery(self.query.experiments, text.strip(), self.query.order_by))

    def sort(self, column: RunColumn, descending: bool) -> None:
        order = column.order_by(descending)
        if order != self.query.order_by:
            self._requery(RunQuery(self.query.experiments, self.query.filter, order))

    def _requery(self, query: RunQuery) -> None:
        self.query = query
        self.queryChanged.emit(query)
        self._restart()

    # --- paging -----------------------------------------------------------------------------

    @property
    def first_page_loaded(self) -> bool:
        """Whether the current query's first page arrived (a page built later shows it)."""
        return self._started

    def _can_fetch_more(self) -> bool:
        return self._started and self._next_token is not None and not self.loading

    def _restart(self) -> None:
        self._slots["page"].cancel()
        self._next_token, self._started, self.total = None, False, 0
        self.total_is_estimate = False
        self.model.reset()
        self._set_loading(False)
        if self.session.permissions.signed_in:
            self._fetch(None)

    def load_more(self) -> None:
        if self._can_fetch_more():
            self._fetch(self._next_token)

    def _fetch(self, token: str | None) -> None:
        query, workspace = self.query, self.session.workspace
        columns = self.model.columns if token else None
        size = NEXT_PAGES if token else FIRST_PAGE

        def page(client: HubClient, _t: CancelToken, _p: Progress) -> RunRows:
            return search_page(client, query, columns, token, size, workspace)

        if token is None:
            self._requested_at = time.perf_counter()
        self._set_loading(True)
        self.session.run(self._slots["page"], "search runs", page, self._on_page, self._on_failed)

    def _on_page(self, rows: RunRows) -> None:
        first = not self._started
        self._started = True
        self._next_token = rows.next_page_token
        self.total, self.total_is_estimate = rows.total, rows.total_is_estimate
        self.model.append(rows)
        if first:
            self.first_page_ms = (time.perf_counter() - self._requested_at) * 1000.0
        self._set_loading(False)
        self.pageLoaded.emit(self.model.rowCount(), rows.total, rows.total_is_estimate)

    def _on_failed(self, message: str) -> None:
        self._set_loading(False)
        self.failed.emit(message)

    def _set_loading(self, loading: bool) -> None:
        if loading != self.loading:
            self.loading = loading
            self.loadingChanged.emit(loading)

    # --- selection, compare, comments ------------------------------------------------------

    def select_rows(self, rows: list[int]) -> None:
        count = self.model.rowCount()
        self._set_selected([self.model.run(r) for r in sorted(rows) if 0 <= r < count])

    def open_run(self, run_id: str) -> None:
        """Show one run by id (e.g. a model version's source run), loaded or not."""

        ws = self.session.workspace

        def fetch(client: HubClient, _t: CancelToken, _p: Progress) -> Run:
            return client.get_run(run_id, workspace=ws)

        self.session.run(self._slots["act"], "open run", fetch,
                         lambda run: self._set_selected([run]), self.failed.emit)  # fmt: skip

    def _set_selected(self, runs: list[Run]) -> None:
        self.selected = runs
        self.selectionChanged.emit(runs)
        self.chart.set_runs(runs[:MAX_COMPARE])
        self.comments = []
        self.commentsChanged.emit([])
        if len(runs) == 1:
            self.load_comments()

    def compare(self) -> None:
        """Compare the selected runs (2-10): params side by side and overlaid curves."""
        ids = [run.id for run in self.selected]
        if not 2 <= len(ids) <= MAX_COMPARE:
            self.failed.emit(f"Compare: select 2 to {MAX_COMPARE} runs (selected {len(ids)}).")
            return

        ws = self.session.workspace

        def fetch(client: HubClient, _t: CancelToken, _p: Progress) -> RunComparison:
            return client.compare_runs(ids, workspace=ws)

        self.session.run(self._slots["compare"], "compare runs", fetch, self._on_compared,
                         self.failed.emit)  # fmt: skip

    def _on_compared(self, comparison: RunComparison) -> None:
        self.comparison = comparison
        self.comparisonChanged.emit(comparison)

    def load_comments(self) -> None:
        if len(self.selected) != 1:
            return
        run_id = self.selected[0].id

        ws = self.session.workspace

        def fetch(client: HubClient, _t: CancelToken, _p: Progress) -> list[Comment]:
            return client.list_run_comments(run_id, workspace=ws)

        self.session.run(self._slots["notes"], "run comments", fetch, self._on_comments,
                         self.failed.emit)  # fmt: skip

    def _on_comments(self, comments: list[Comment]) -> None:
        self.comments = comments
        self.commentsChanged.emit(comments)

    def add_comment(self, body: str) -> None:
        text = body.strip()
        if len(self.selected) != 1:
            self.failed.emit("Comment: select one run to comment on.")
            return
        if not text:
            self.failed.emit("Comment: expected some text.")
            return
        run_id = self.selected[0].id

        ws = self.session.workspace

        def add(client: HubClient, _t: CancelToken, _p: Progress) -> Comment:
            return client.add_run_comment(run_id, text, workspace=ws)

        def done(_comment: Any) -> None:
            self.statusChanged.emit("Comment added.")
            self.load_comments()

        self.session.run(self._slots["act"], "add comment", add, done, self.failed.emit)

    def shutdown(self) -> None:
        for slot in self._slots.values():
            slot.cancel()
        self.chart.shutdown()
