"""Monitoring history and the Drift view against a real hub (subprocess): roll-ups and drift
windows delivered by a joined agent, loaded by the view-model on workers, charted, and the
heatmap cell under a mouse click showing that window's reference vs current histograms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PySide6.QtCore import Qt

from modelfleet.desktop.app import Desktop
from modelfleet.desktop.series import P95, THROUGHPUT, TIME
from modelfleet.desktop.services.drift_view import step_for
from modelfleet.desktop.viewmodels.monitoring_history import Target
from modelfleet.desktop.widgets.monitoring_page import MonitoringPage
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.hub_seed import (
    DEPLOYMENT,
    ENVIRONMENT,
    FEATURES,
    SHIFTED,
    SeedAgent,
    drift_events,
    rollup_history,
)
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir
WINDOWS = 12


@pytest.fixture
def seeded(running_hub: RunningHub) -> datetime:
    """Two hours of roll-ups and WINDOWS drift windows up to now; returns the end time."""
    end = datetime.now(UTC).replace(microsecond=0)
    with admin_client(running_hub, "default") as client:
        agent = SeedAgent(running_hub.address, running_hub.ca_pem, client)
        try:
            agent.send(rollup_history(2.0, end) + drift_events(WINDOWS, end))
        finally:
            agent.close()
    return end


def _page(desktop: Desktop) -> MonitoringPage:
    page = desktop.window.page(4)
    assert isinstance(page, MonitoringPage)
    return page


def test_history_and_drift_load_and_the_clicked_cell_shows_its_histograms(
    running_hub: RunningHub, desktop: Desktop, qtbot, seeded: datetime
) -> None:
    sign_in(desktop, qtbot, running_hub)
    vm, panel = desktop.history, _page(desktop).history()
    desktop.shell.select_key("monitoring")
    page = _page(desktop)
    page.tabs.setCurrentIndex(1)
    target = Target(DEPLOYMENT, ENVIRONMENT)

    # Last hour of the seeded two: 10 s buckets, request rate and latency in chart units.
    since, until = seeded - timedelta(hours=1), seeded + timedelta(seconds=1)
    with qtbot.waitSignals([vm.historyLoaded, vm.driftLoaded], timeout=TIMEOUT_MS):
        vm.load(target, since, until)
    data = vm.history
    assert data is not None and data.step_s == 10 and list(data.columns) == [1]
    columns = data.columns[1]
    assert 350 <= data.buckets <= 362 and columns.shape[1] == data.buckets
    assert np.all(np.diff(columns[TIME]) > 0)
    assert since.timestamp() <= columns[TIME, 0] and columns[TIME, -1] < until.timestamp()
    assert 1.0 < columns[THROUGHPUT].mean() < 40.0  # ~200 requests per 10 s bucket
    assert columns[P95].min() > 10.0 and columns[P95].max() < 60.0  # seconds -> ms
    curve = panel.throughput_chart.curve(1, "", "#000")
    x, y = curve.getOriginalDataset()
    assert np.array_equal(x, columns[TIME]) and np.array_equal(y, columns[THROUGHPUT])
    assert f"{data.buckets} buckets of 10 s" in panel.note.text()

    # Drift: features x windows, oldest first; only the shifted features drift, late on.
    matrix = vm.drift
    assert matrix is not None and matrix.features == FEATURES
    assert len(matrix.windows) == WINDOWS
    late = slice(WINDOWS // 2, None)
    assert matrix.drifted[:SHIFTED, late].all() and not matrix.drifted[:, : WINDOWS // 2].any()
    assert not matrix.drifted[SHIFTED:, :].any()
    assert (matrix.scores[:SHIFTED, late] > 1.0).all()  # past the threshold
    assert (matrix.scores[SHIFTED:, :] < 1.0).all()
    assert "dataset drifted in 6 window(s)" in panel.drift_view.summary.text()

    # A real click on a drifted cell (amount, last window), then on a calm one.
    panel.tabs.setCurrentIndex(1)
    heatmap = panel.drift_view.heatmap
    qtbot.waitExposed(heatmap)
    for feature, window, verdict in ((0, WINDOWS - 1, "DRIFTED"), (3, 0, "no drift")):
        with qtbot.waitSignal(vm.cellSelected, timeout=TIMEOUT_MS) as got:
            qtbot.mouseClick(
                heatmap.viewport(), Qt.MouseButton.LeftButton,
                pos=heatmap.cell_center(feature, window),
            )  # fmt: skip
        cell = got.args[0]
        expected = matrix.cell(feature, window)
        assert cell == expected and cell.feature == FEATURES[feature]
        assert cell.histogram is not None
        text = panel.drift_view.detail_label.text()
        assert text.startswith(f"{FEATURES[feature]}, window") and verdict in text
        assert f"{cell.method} " in text and f"{cell.threshold:g}" in text
        for name, shares in (("reference", cell.histogram.reference),
                             ("current", cell.histogram.current)):  # fmt: skip
            x, y = panel.drift_view.histogram.curves[name].getOriginalDataset()
            assert np.allclose(y, shares) and len(x) == len(shares) + 1
        assert abs(sum(cell.histogram.reference) - 1.0) < 1e-6


def test_ranges_choose_steps_the_hub_accepts_and_bad_ranges_are_refused(
    running_hub: RunningHub, desktop: Desktop, qtbot, seeded: datetime
) -> None:
    sign_in(desktop, qtbot, running_hub)
    vm, panel = desktop.history, _page(desktop).history()
    for index, step in ((0, 10), (1, 50), (2, 310)):
        panel.range_combo.setCurrentIndex(index)
        since, until = panel.current_range()
        assert step_for(since, until) == step
    # A week at 310 s buckets: the whole seeded two hours in ~24 buckets.
    with qtbot.waitSignal(vm.historyLoaded, timeout=TIMEOUT_MS):
        vm.load(Target(DEPLOYMENT, ENVIRONMENT), *panel.current_range())
    assert vm.history is not None and 20 <= vm.history.buckets <= 26
    # Custom range the wrong way round: refused before any call, with the field named.
    panel.range_combo.setCurrentIndex(3)
    assert panel.since_edit.isEnabled()
    panel.until_edit.setDateTime(panel.since_edit.dateTime().addSecs(-60))
    with qtbot.waitSignal(vm.failed, timeout=TIMEOUT_MS) as refused:
        vm.load(Target(DEPLOYMENT, ENVIRONMENT), *panel.current_range())
    assert refused.args == ["Range: expected the start before the end"]
