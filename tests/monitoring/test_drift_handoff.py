"""The drift hand-off between the event loop and the worker, and skipping while a window
waits for the evaluation budget (in process; the clock is a counter, not wall time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from modelfleet.agent.node.monitor import _drift
from modelfleet.agent.node.monitor._drift import DriftTracker, HandOff
from modelfleet.drift import DriftConfig
from modelfleet.profile import ReferenceProfile
from tests.monitoring.monitored import MODEL, NAMES, reference_rows, write_monitored_model

OUTPUTS = ["label", "probabilities"]


def requests(rows: np.ndarray) -> tuple[list[dict[str, np.ndarray]], list[list[np.ndarray]]]:
    """One single-row request per row, as the worker takes them: input mappings and, per
    output, one array per request."""
    inputs = [{"input": rows[i : i + 1]} for i in range(rows.shape[0])]
    labels = [np.array([i % 2], dtype=np.int64) for i in range(rows.shape[0])]
    scores = [np.array([[0.4, 0.6]], dtype=np.float32) for _ in range(rows.shape[0])]
    return inputs, [labels, scores]


def test_handoff_returns_requests_in_order_per_output_and_refuses_when_full() -> None:
    handoff = HandOff(outputs=2, capacity=3)
    rows = reference_rows(4, seed=1)
    inputs, (labels, scores) = requests(rows)
    assert handoff.put(inputs[0], [labels[0], scores[0]]) is True  # was empty: wake the worker
    assert handoff.put(inputs[1], [labels[1], scores[1]]) is None
    assert handoff.put(inputs[2], [labels[2], scores[2]]) is None
    assert handoff.put(inputs[3], [labels[3], scores[3]]) is False  # full: dropped
    got_inputs, got_outputs = handoff.take()
    assert got_inputs == inputs[:3]
    assert got_outputs[0] == labels[:3] and got_outputs[1] == scores[:3]
    assert handoff.take() == ([], [])
    assert handoff.put(inputs[3], [labels[3], scores[3]]) is True


class Clock:
    """time.monotonic stand-in: every reading is one second after the previous one, so an
    evaluation "costs" one second and the next one is due EVALUATION_BUDGET⁻¹ seconds later."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_drift, "time", fake)
    return fake


@pytest.fixture
def tracker(tmp_path: Path, clock: Clock) -> DriftTracker:
    models = write_monitored_model(tmp_path / "models")
    document = orjson.loads((models / MODEL / "1" / "reference_profile.json").read_bytes())
    profile = ReferenceProfile.from_dict(document)
    return DriftTracker(profile, DriftConfig.from_dict({"window_rows": 100}), NAMES)


def test_requests_arriving_while_a_window_waits_are_skipped_and_windows_stay_whole(
    tracker: DriftTracker, clock: Clock
) -> None:
    first = tracker.update(*requests(reference_rows(100, seed=2)), OUTPUTS)
    assert len(first) == 1 and first[0].n_rows == 100 and not tracker.waiting

    # The second window closes before the budget allows evaluating it: it waits, and the
    # rows after its boundary are dropped with the open window.
    assert tracker.update(*requests(reference_rows(130, seed=3)), OUTPUTS) == []
    assert tracker.waiting and tracker.rows_in_open_window == 0
    assert tracker.update(*requests(reference_rows(40, seed=4)), OUTPUTS) == []
    assert tracker.rows_skipped == 40 and tracker.rows_in_open_window == 0

    clock.now += 1 / _drift.EVALUATION_BUDGET
    second = tracker.evaluate_due()
    assert len(second) == 1 and second[0].n_rows == 100 and not tracker.waiting
    assert tracker.windows_closed == 2

    # Accumulation resumes with a fresh window.
    assert tracker.update(*requests(reference_rows(60, seed=5)), OUTPUTS) == []
    assert tracker.rows_in_open_window == 60
