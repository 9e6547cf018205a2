"""Drift on live traffic of a standalone agent: reference traffic, then a mid-stream shift."""

from __future__ import annotations

from tests.monitoring.monitored import NAMES, WINDOW_ROWS, reference_rows
from tests.monitoring.traffic import send, snapshot, wait_windows
from tests.serving.agentproc import Agent

SHIFTED = 14  # features f00..f13 move by one standard deviation


def test_shift_mid_stream_is_reported_per_feature_and_in_watch_metrics(agent: Agent) -> None:
    assert snapshot(agent).drift.windows_closed == 0
    rest = agent.rest()

    send(rest, reference_rows(WINDOW_ROWS, seed=11))
    calm = wait_windows(agent, 1).drift
    assert calm.enabled, calm.reason
    assert calm.windows_closed == 1
    assert not calm.dataset_drifted
    assert calm.last_window.n_rows == WINDOW_ROWS
    verdicts = {f.name: f for f in calm.last_window.features}
    assert set(verdicts) == {*NAMES, "label", "probabilities_1"}
    assert not [name for name, f in verdicts.items() if f.drifted]
    assert all(f.judged and f.method == "wasserstein" for n, f in verdicts.items() if n in NAMES)

    # The stream shifts: the next window holds only shifted rows.
    send(rest, reference_rows(WINDOW_ROWS, seed=12, shift=1.0, shifted=SHIFTED))
    moved = wait_windows(agent, 2).drift
    assert moved.windows_closed == 2
    assert moved.dataset_drifted
    features = {f.name: f for f in moved.last_window.features}
    drifted = {name for name, f in features.items() if f.drifted}
    assert set(NAMES[:SHIFTED]) <= drifted
    assert not drifted & set(NAMES[SHIFTED:])
    for name in NAMES[:SHIFTED]:
        f = features[name]
        assert f.statistic >= f.threshold == 0.1
        assert abs(f.mean - f.reference_mean - 1.0) < 0.15
    assert moved.share_drifted == len(drifted) / len(features)
    assert moved.rows_in_open_window == 0
    assert moved.batches_dropped == 0

    # Back to the reference distribution: the next window is calm again.
    send(rest, reference_rows(WINDOW_ROWS, seed=13))
    again = wait_windows(agent, 3).drift
    assert not again.dataset_drifted
    assert not [f.name for f in again.last_window.features if f.drifted]
