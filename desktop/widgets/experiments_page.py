"""The Experiments page: the server-paged runs table, and charts, compare and comments tabs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client import Comment, Experiment, Run, RunComparison
from modelfleet.desktop.viewmodels.experiments import MAX_COMPARE, ExperimentsViewModel
from modelfleet.desktop.widgets.admin_tabs import RowsModel
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.metric_chart import MetricChart
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label

COLUMN_WIDTH = 110


def _button(text: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tooltip)
    return button


def _name_scroll_buttons(tabs: QTabWidget) -> None:
    for button in tabs.tabBar().findChildren(QToolButton):
        button.setToolTip("Scroll the tabs")  # the tab bar's own scroll arrows


def _table(model: RowsModel) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.setAlternatingRowColors(True)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return table


class ExperimentsPage(Page):
    def __init__(self, vm: ExperimentsViewModel) -> None:
        super().__init__()
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Experiments", "PageTitle"))
        layout.addLayout(self._build_query_row())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_table())
        splitter.addWidget(self._build_tabs())
        splitter.setSizes([560, 640])
        layout.addWidget(splitter, 1)
        self.status_label = styled_label("", "Muted")
        layout.addWidget(self.status_label)
        self.subscribe(vm.experimentsChanged, self.show_experiments)
        self.subscribe(vm.pageLoaded, self.show_count)
        self.subscribe(vm.loadingChanged, self._on_loading)
        self.subscribe(vm.selectionChanged, self.show_selection)
        self.subscribe(vm.comparisonChanged, self.show_comparison)
        self.subscribe(vm.commentsChanged, self.show_comments)
        self.subscribe(vm.statusChanged, self.status_label.setText)
        # What was loaded (or is loading) before the page was first shown.
        if vm.experiments:
            self.show_experiments(vm.experiments)
        if vm.first_page_loaded:
            self.show_count(vm.model.rowCount(), vm.total, vm.total_is_estimate)
        self._on_loading(vm.loading)
        if vm.selected:
            self.show_selection(vm.selected)

    def _build_query_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.experiment_combo = QComboBox()
        self.experiment_combo.setToolTip("Experiment whose runs to list")
        self.experiment_combo.setMinimumWidth(200)
        self.experiment_combo.addItem("All experiments", "")
        self.experiment_combo.activated.connect(
            lambda _i: self.vm.set_experiment(str(self.experiment_combo.currentData() or ""))
        )
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("metrics.auc > 0.9 and params.lr = '0.01'")
        self.filter_edit.setToolTip(
            "Filter on the hub: metrics.KEY, params.KEY, tags.KEY, status, name, start_time "
            "with = != < <= > >= LIKE, joined by AND"
        )
        self.filter_edit.returnPressed.connect(self.apply_filter)
        self.apply_button = _button("Filter", "Run the filter on the hub (Enter)")
        self.apply_button.clicked.connect(self.apply_filter)
        self.count_label = styled_label("", "Muted")
        row.addWidget(self.experiment_combo)
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.apply_button)
        row.addWidget(self.count_label)
        return row

    def _build_table(self) -> QTableView:
        self.table = QTableView()
        self.table.setModel(self.vm.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        # Fixed sizes: the view never measures 100,000 rows' contents.
        vertical = self.table.verticalHeader()
        vertical.hide()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setDefaultSectionSize(COLUMN_WIDTH)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        return self.table

    def _build_tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.chart = MetricChart(self.vm.chart)
        self.tabs.addTab(self.chart, "Charts")
        compare = QWidget()
        box = QVBoxLayout(compare)
        self.compare_button = _button(
            "Compare selected", f"Compare 2-{MAX_COMPARE} selected runs: params and metrics"
        )
        self.compare_button.clicked.connect(self.vm.compare)
        self.compare_button.setEnabled(False)
        box.addWidget(self.compare_button)
        self.params_model = RowsModel(("Param",), self)
        self.params_table = _table(self.params_model)
        self.params_table.setToolTip("Parameters of the compared runs; differing rows marked ≠")
        box.addWidget(self.params_table, 1)
        self.metrics_model = RowsModel(("Metric",), self)
        self.metrics_table = _table(self.metrics_model)
        self.metrics_table.setToolTip("Last value of each metric per run")
        box.addWidget(self.metrics_table, 1)
        self.tabs.addTab(compare, "Compare")
        notes = QWidget()
        box = QVBoxLayout(notes)
        self.comments_list = QListWidget()
        self.comments_list.setToolTip("Comments on the selected run, oldest first")
        self.comments_list.setWordWrap(True)
        box.addWidget(self.comments_list, 1)
        row = QHBoxLayout()
        self.comment_edit = QLineEdit(placeholderText="Add a comment")
        self.comment_edit.setToolTip("A comment on the selected run, visible to the workspace")
        self.comment_edit.returnPressed.connect(self.add_comment)
        self.comment_button = _button("Comment", "Add the comment to the selected run")
        self.comment_button.clicked.connect(self.add_comment)
        row.addWidget(self.comment_edit, 1)
        row.addWidget(self.comment_button)
        box.addLayout(row)
        self.tabs.addTab(notes, "Comments")
        for index, tip in enumerate(("Metric curves of the selected runs",
                                     "Side by side: params and metrics",
                                     "Discussion of the selected run")):  # fmt: skip
            self.tabs.setTabToolTip(index, tip)
        _name_scroll_buttons(self.tabs)
        return self.tabs

    def apply_filter(self) -> None:
        self.vm.set_filter(self.filter_edit.text())

    def add_comment(self) -> None:
        self.vm.add_comment(self.comment_edit.text())
        self.comment_edit.clear()

    def show_experiments(self, experiments: list[Experiment]) -> None:
        current = self.experiment_combo.currentData()
        self.experiment_combo.clear()
        self.experiment_combo.addItem("All experiments", "")
        for experiment in experiments:
            label = f"{experiment.name} ({experiment.run_count:,} runs)"
            self.experiment_combo.addItem(label, experiment.id)
        index = self.experiment_combo.findData(current)
        self.experiment_combo.setCurrentIndex(max(index, 0))

    def show_count(self, loaded: int, total: int, estimated: bool = False) -> None:
        # A PostgreSQL hub estimates totals past ~1,000 matches rather than counting them.
        of = f"about {total:,}" if estimated else f"{total:,}"
        self.count_label.setText(f"{loaded:,} of {of} runs loaded")
        self.count_label.setToolTip(
            "Estimated by the database: the exact count of so many matches is not taken"
            if estimated
            else ""
        )

    def _on_loading(self, loading: bool) -> None:
        if loading and not self.vm.model.rowCount():
            self.count_label.setText("Searching…")

    def _on_selection(self, *_args: object) -> None:
        rows = [index.row() for index in self.table.selectionModel().selectedRows()]
        self.vm.select_rows(rows)

    def show_selection(self, runs: list[Run]) -> None:
        self.compare_button.setEnabled(2 <= len(runs) <= MAX_COMPARE)
        self.comment_button.setEnabled(len(runs) == 1)
        self.comment_edit.setEnabled(len(runs) == 1)
        if len(runs) == 1:
            run = runs[0]
            self.status_label.setText(f"Run {run.name or run.id} · {run.id}")
        elif runs:
            self.status_label.setText(f"{len(runs)} runs selected")

    def show_comparison(self, comparison: RunComparison | None) -> None:
        if comparison is None:
            return
        names = [run.name or run.id[:8] for run in comparison.runs]
        self.params_model.headers = ("Param", *names)
        self.params_model.set_rows(
            [(f"≠ {key}" if differs else key, *values)
             for key, (values, differs) in sorted(comparison.params.items())]
        )  # fmt: skip
        self.metrics_model.headers = ("Metric", *names)
        self.metrics_model.set_rows(
            [(key, *(f"{s.last:.6g}" if s else "" for s in summaries))
             for key, summaries in sorted(comparison.metrics.items())]
        )  # fmt: skip
        self.tabs.setCurrentIndex(1)

    def show_comments(self, comments: list[Comment]) -> None:
        self.comments_list.clear()
        for comment in comments:
            when = f"{comment.created_at:%Y-%m-%d %H:%M}" if comment.created_at else ""
            self.comments_list.addItem(f"{comment.author} · {when}\n{comment.body}")

    def shutdown(self) -> None:
        self.chart.shutdown()
        super().shutdown()
