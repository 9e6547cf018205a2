"""The Experiments page against a real hub: server-side filter and sort, paging, metric
envelopes with zoom re-query, compare 2-10 runs, comments, and readable errors."""

from __future__ import annotations

import dataclasses
import gc
from datetime import UTC, datetime

import numpy as np
from PySide6.QtCore import QItemSelectionModel, Qt

from modelfleet.client import HubClient, MetricSummary, Run, RunArtifact, RunStatus
from modelfleet.desktop.app import Desktop
from modelfleet.desktop.services.runs import RunRows, pack_run, unpack_run
from modelfleet.desktop.viewmodels import experiments as experiments_vm
from modelfleet.desktop.widgets.experiments_page import ExperimentsPage
from modelfleet.proto.v1 import tracking_pb2
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in
from tests.tracking.conftest import columns

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir

CURVE_POINTS = 20_000
SPIKE_STEP = 12_345


def test_a_packed_run_round_trips_and_leaves_the_collectors_view() -> None:
    """The runs table keeps every loaded run packed: unpacked it is the same run, and the
    cyclic garbage collector no longer tracks it after its second pass over it."""
    run = Run(
        "r1", "e1", "gbm-0", RunStatus.FINISHED, datetime(2026, 1, 1, tzinfo=UTC), None,
        {"lr": "0.01", "depth": "4"}, {"team": "risk"},
        {"auc": MetricSummary("auc", 0.9, 0.5, 0.91, 12, 11)},
        (RunArtifact("model.onnx", "ab" * 32, 1234),), None, "admin",
    )  # fmt: skip
    bare = Run("r2", "e1", "", None, None, None, {}, {}, {}, (), "r1", "")
    assert unpack_run(pack_run(run)) == run
    assert unpack_run(pack_run(bare)) == bare
    rows = [pack_run(run) for _ in range(1000)]
    gc.collect()
    gc.collect()
    assert not any(gc.is_tracked(row) for row in rows)


def log_curve(client: HubClient, run_id: str, key: str, values: np.ndarray) -> None:
    steps = np.arange(len(values))
    client.log_batch(
        tracking_pb2.LogBatchRequest(
            run_id=run_id, idempotency_key=f"{key}-curve",
            columns=columns([key], np.zeros(len(values)), values, steps),
        )
    )  # fmt: skip


def seed_experiments(client: HubClient, runs: int = 4) -> list[str]:
    """Experiment "fraud" with `runs` runs (params lr/depth, metrics auc and a long "loss"
    curve with a spike) and experiment "baseline" with one run; the fraud run ids."""
    ids = []
    rng = np.random.default_rng(3)
    for i in range(runs):
        run = client.create_run(
            "fraud", name=f"gbm-{i}", params={"lr": f"0.0{i + 1}", "depth": str(4 + i % 2)},
            tags={"team": "risk"},
        )  # fmt: skip
        steps = np.arange(CURVE_POINTS)
        loss = np.exp(-steps / (3000.0 + 500 * i)) + rng.normal(0, 0.01, CURVE_POINTS)
        loss[SPIKE_STEP] = 5.0
        log_curve(client, run.id, "loss", loss)
        log_curve(client, run.id, "auc", np.array([0.80 + 0.03 * i]))
        client.update_run(run.id, status=RunStatus.FINISHED)
        ids.append(run.id)
    client.create_run("baseline", name="logreg", params={"C": "1.0"})
    return ids


def _page(desktop: Desktop) -> ExperimentsPage:
    page = desktop.window.page(1)
    assert isinstance(page, ExperimentsPage)
    return page


def _select(page: ExperimentsPage, rows: list[int]) -> None:
    model, selection = page.table.model(), page.table.selectionModel()
    selection.clearSelection()
    for row in rows:
        selection.select(
            model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )


def test_runs_are_filtered_sorted_paged_charted_compared_and_commented(
    running_hub: RunningHub, desktop: Desktop, qtbot, monkeypatch
) -> None:
    with admin_client(running_hub, "default") as client:
        ids = seed_experiments(client)
    # Small pages, so four runs take two round trips.
    monkeypatch.setattr(experiments_vm, "FIRST_PAGE", 3)
    monkeypatch.setattr(experiments_vm, "NEXT_PAGES", 3)
    vm = desktop.experiments
    page = _page(desktop)
    desktop.shell.select_key("experiments")
    sign_in(desktop, qtbot, running_hub)
    qtbot.waitUntil(lambda: len(vm.experiments) == 2, timeout=TIMEOUT_MS)
    assert page.experiment_combo.count() == 3  # all + fraud + baseline
    qtbot.waitUntil(lambda: vm.model.rowCount() == 3, timeout=TIMEOUT_MS)
    assert vm.total == 5 and vm.first_page_ms is not None
    headers = [c.header for c in vm.model.columns]
    assert headers[:3] == ["Run", "Status", "Started (UTC)"]
    assert {"auc", "loss", "param: lr", "param: depth", "tag: team"} <= set(headers)
    # Scrolling to the end fetches the next page.
    page.table.scrollToBottom()
    qtbot.waitUntil(lambda: vm.model.rowCount() == 5, timeout=TIMEOUT_MS)
    assert page.count_label.text() == "5 of 5 runs loaded"

    # One experiment, filtered and sorted on the hub.
    fraud = page.experiment_combo.findText("fraud (4 runs)")
    page.experiment_combo.setCurrentIndex(fraud)
    page.experiment_combo.activated.emit(fraud)
    qtbot.waitUntil(lambda: vm.total == 4 and vm.model.rowCount() == 3, timeout=TIMEOUT_MS)
    page.filter_edit.setText("metrics.auc > 0.84")
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: vm.total == 2 and vm.model.rowCount() == 2, timeout=TIMEOUT_MS)
    auc = vm.model.column_of("metrics.auc")
    page.table.sortByColumn(auc, Qt.SortOrder.AscendingOrder)
    assert vm.query.order_by == "metrics.auc ASC"
    qtbot.waitUntil(lambda: vm.model.rowCount() == 2 and not vm.loading, timeout=TIMEOUT_MS)
    assert [vm.model.data(vm.model.index(r, 0)) for r in range(2)] == ["gbm-2", "gbm-3"]
    page.table.sortByColumn(auc, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(
        lambda: not vm.loading and vm.model.rowCount() == 2
        and vm.model.data(vm.model.index(0, 0)) == "gbm-3",
        timeout=TIMEOUT_MS,
    )  # fmt: skip

    # A bad filter: a readable message naming the field, and the table stays usable.
    with qtbot.waitSignal(desktop.shell.messageChanged, timeout=TIMEOUT_MS) as message:
        page.filter_edit.setText("metrics.auc >> 1")
        page.apply_filter()
    assert (
        message.args[0].startswith("Invalid input: filter") and "Traceback" not in message.args[0]
    )
    page.filter_edit.setText("")
    page.apply_filter()
    qtbot.waitUntil(lambda: vm.total == 4 and not vm.loading, timeout=TIMEOUT_MS)

    # One run: the long curve comes back as an envelope holding the spike.
    chart = vm.chart
    with qtbot.waitSignal(chart.curvesChanged, timeout=TIMEOUT_MS):
        _select(page, [0])
    qtbot.waitUntil(lambda: chart.data is not None and chart.data.key == "auc", timeout=TIMEOUT_MS)
    with qtbot.waitSignal(chart.curvesChanged, timeout=TIMEOUT_MS) as got:
        page.chart.metric_combo.setCurrentText("loss")
    (curve,) = got.args[0].curves.values()
    assert curve.total_points == CURVE_POINTS and curve.downsampled
    assert len(curve.steps) <= 1000 and curve.upper.max() == 5.0
    assert "20,000 points over all steps" in page.chart.note.text()
    # Zooming in re-queries the visible steps at full detail.
    with qtbot.waitSignal(chart.curvesChanged, timeout=TIMEOUT_MS) as got:
        page.chart.plot.getPlotItem().setXRange(SPIKE_STEP - 100, SPIKE_STEP + 100, padding=0)
    (zoomed,) = got.args[0].curves.values()
    assert got.args[0].steps is not None and not zoomed.downsampled
    assert 5.0 in zoomed.values and len(zoomed.steps) <= 202

    # Comments on the selected run.
    run_id = vm.selected[0].id
    with qtbot.waitSignal(vm.commentsChanged, timeout=TIMEOUT_MS) as got:
        page.comment_edit.setText("spike at 12k: bad batch")
        qtbot.mouseClick(page.comment_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.comments_list.count() == 1, timeout=TIMEOUT_MS)
    assert "spike at 12k: bad batch" in page.comments_list.item(0).text()
    with admin_client(running_hub, "default") as client:
        assert [c.body for c in client.list_run_comments(run_id)] == ["spike at 12k: bad batch"]

    # Compare three runs: params side by side (differing ones marked), overlaid curves.
    with qtbot.waitSignal(chart.curvesChanged, timeout=TIMEOUT_MS):
        _select(page, [0, 1, 2])
    assert page.compare_button.isEnabled() and not page.comment_button.isEnabled()
    qtbot.waitUntil(lambda: chart.data is not None and len(chart.data.curves) == 3,
                    timeout=TIMEOUT_MS)  # fmt: skip
    with qtbot.waitSignal(vm.comparisonChanged, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.compare_button, Qt.MouseButton.LeftButton)
    params = {page.params_model.rows[r][0]: page.params_model.rows[r][1:]
              for r in range(page.params_model.rowCount())}  # fmt: skip
    assert set(params) == {"≠ lr", "≠ depth"} and len(params["≠ lr"]) == 3
    assert page.tabs.currentIndex() == 1 and page.metrics_model.rowCount() == 2
    assert sorted(run.id for run in vm.comparison.runs) == sorted(
        run.id for run in vm.selected
    ) and set(ids) >= {run.id for run in vm.selected}

    # Opening a run by id (the Models page's lineage link) selects it.
    with qtbot.waitSignal(vm.selectionChanged, timeout=TIMEOUT_MS) as got:
        vm.open_run(ids[0])
    assert [run.id for run in got.args[0]] == [ids[0]]


def test_an_estimated_total_reads_as_about(
    running_hub: RunningHub, desktop: Desktop, qtbot, monkeypatch
) -> None:
    """A PostgreSQL hub estimates totals past ~1,000 matches; the count line says so. These
    desktop tests run on SQLite, which always counts, so the page's answer is marked as a
    PostgreSQL hub would mark it (on the worker, where the real search ran)."""
    with admin_client(running_hub, "default") as client:
        seed_experiments(client, runs=2)
    real = experiments_vm.search_page

    def estimated(*args: object, **kwargs: object) -> RunRows:
        rows = real(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(rows, total=5_053, total_is_estimate=True)

    monkeypatch.setattr(experiments_vm, "search_page", estimated)
    vm = desktop.experiments
    page = _page(desktop)
    desktop.shell.select_key("experiments")
    sign_in(desktop, qtbot, running_hub)
    qtbot.waitUntil(lambda: vm.model.rowCount() == 3 and not vm.loading, timeout=TIMEOUT_MS)
    assert vm.total == 5_053 and vm.total_is_estimate
    assert page.count_label.text() == "3 of about 5,053 runs loaded"
    assert "Estimated" in page.count_label.toolTip()

    # Counted again (the real answer): the label drops "about".
    monkeypatch.setattr(experiments_vm, "search_page", real)
    page.filter_edit.setText("metrics.auc > 0")
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: vm.total == 2 and not vm.loading, timeout=TIMEOUT_MS)
    assert not vm.total_is_estimate
    assert page.count_label.text() == "2 of 2 runs loaded" and not page.count_label.toolTip()
