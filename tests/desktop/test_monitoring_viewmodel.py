"""Monitoring view-model and its table model: ingest, error deltas, history, states."""

from __future__ import annotations

import numpy as np
from feeds import history, metrics, simulated_agent
from PySide6.QtCore import Qt

from modelfleet.desktop.series import ERRORS, P95, THROUGHPUT, TIME
from modelfleet.desktop.services.metrics import MetricsSnapshot, StreamConnected, StreamLost
from modelfleet.desktop.viewmodels.monitoring import (
    HISTORY_DISPLAY_POINTS,
    MonitoringViewModel,
    SeriesKey,
)
from modelfleet.desktop.viewmodels.series_table import AUTO_SHOWN, SeriesTableModel


def snapshot(t, *models):
    return MetricsSnapshot("a:1", t, "0.1", models)


def test_snapshots_become_series_with_ms_latencies_and_error_deltas(qtbot):
    vm = MonitoringViewModel()
    with qtbot.waitSignal(vm.seriesAdded) as added:
        vm.ingest(snapshot(10.0, metrics("m", 1, errors=3)))
    key = SeriesKey("a:1", "m", "1")
    assert added.args == [key]
    vm.ingest(snapshot(11.0, metrics("m", 2, errors=5)))
    vm.ingest(snapshot(12.0, metrics("m", 3, errors=1)))  # counters reset: agent restarted
    columns = vm.series(key).buffer.columns()
    assert list(columns[TIME]) == [10.0, 11.0, 12.0]
    assert list(columns[ERRORS]) == [0.0, 2.0, 1.0]
    assert np.isclose(columns[P95, 1], metrics("m", 2).p95 * 1000)
    assert vm.revision == 3 and vm.series(key).revision == 3
    assert vm.agent_states["a:1"] == ("live", "")


def test_connection_events_drive_states(qtbot):
    vm = MonitoringViewModel()
    states = []
    vm.agentStateChanged.connect(lambda *args: states.append(args))
    vm.ingest(StreamLost("a:1", "agent a:1: unreachable", 2.0))
    vm.ingest(StreamLost("a:1", "agent a:1: unreachable", 2.0))  # unchanged: no signal
    vm.ingest(StreamConnected("a:1"))
    assert states == [
        ("a:1", "lost", "agent a:1: unreachable; retrying in 2 s"),
        ("a:1", "live", ""),
    ]


def test_history_goes_in_front_of_live_samples(qtbot):
    vm = MonitoringViewModel(capacity=100)
    vm.ingest(snapshot(1000.0, metrics("m", 1)))
    vm.ingest(snapshot(1001.0, metrics("m", 2)))
    # Stored samples every 0.1 s up to 1001.9: the last 20 overlap the live range.
    vm.merge_history(history("a:1", "m", 5000, end=1002.0))
    series = vm.series(SeriesKey("a:1", "m", "1"))
    assert series.history_points == 5000 - 20
    t = series.display()[TIME]
    assert len(t) == 5000 - 20 + 2  # under HISTORY_DISPLAY_POINTS: no envelope needed
    assert np.all(np.diff(t) > 0) and list(t[-3:]) == [999.9, 1000.0, 1001.0]
    assert series.display()[THROUGHPUT, -1] == metrics("m", 2).throughput
    vm.ingest(snapshot(1002.0, metrics("m", 3)))
    assert series.display()[TIME, -1] == 1002.0


def test_a_million_stored_points_chart_as_a_bounded_peak_envelope(qtbot):
    vm = MonitoringViewModel()
    stored = history("a:1", "m", 1_000_000, end=5e5)
    stored.throughput[123_457] = 1e6  # one spike must survive the reduction
    vm.merge_history(stored)
    series = vm.series(SeriesKey("a:1", "m", "1"))
    shown = series.display()
    assert series.history_points == 1_000_000
    assert shown.shape[1] <= HISTORY_DISPLAY_POINTS + 250
    assert shown[THROUGHPUT].max() == 1e6 and shown[THROUGHPUT].min() == stored.throughput.min()
    assert np.all(np.diff(shown[TIME]) >= 0)
    assert shown[TIME, 0] == stored.time[0]


def test_streams_run_in_workers_and_stop_on_shutdown(qtbot):
    vm = MonitoringViewModel()
    vm.add_stream("sim", simulated_agent("sim", models=2, hz=50))
    qtbot.waitUntil(lambda: len(vm.series_keys()) == 2 and vm.revision >= 5, timeout=5000)
    assert vm.agent_states["sim"] == ("live", "")
    vm.shutdown()


def test_table_model_shows_figures_and_checks_first_series(qtbot):
    vm = MonitoringViewModel()
    table = SeriesTableModel(vm)
    shown = []
    table.shownChanged.connect(lambda key, on: shown.append((key.model, on)))
    models = [metrics(f"m{i}", 4, errors=7) for i in range(AUTO_SHOWN + 2)]
    vm.ingest(snapshot(1.0, *models))
    assert table.rowCount() == AUTO_SHOWN + 2
    assert shown == [(f"m{i}", True) for i in range(AUTO_SHOWN)]
    row = [table.index(0, c).data() for c in range(table.columnCount())]
    assert row[:3] == ["m0", "1", "a:1"] and row[7] == "7"
    assert row[5] == f"{models[0].p95 * 1000:.2f}"
    last = table.index(AUTO_SHOWN + 1, 0)
    assert last.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert table.setData(last, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert shown[-1] == (f"m{AUTO_SHOWN + 1}", True)
    assert table.headerData(3, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
