"""100,000 runs: the first page is in the table within 300 ms of the request, and scrolling
through pages never makes the GUI thread itself work more than 50 ms in one stretch (the
app's own heartbeat, with the thread's CPU time in its worst gap).

The runs are written straight into the hub's (SQLite) tables in bulk, as the tracking
benchmark does (logging 100,000 runs through the API would take minutes and measure the hub).
The machine is shared: on a failure the message carries every sample and the GUI thread's
CPU time in the worst gap, which tells load (little CPU) from our own work (much CPU).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PySide6.QtWidgets import QAbstractSlider
from sqlalchemy import Connection, inspect, text

from modelfleet.agent.hub.db import make_engine
from modelfleet.desktop.app import Desktop, settle_heap
from modelfleet.desktop.heartbeat import GuiHeartbeat
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_experiments import _page
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir

RUNS = 100_000
FIRST_PAGE_MS = 300.0
MAX_STALL_MS = 50.0
MAX_FREEZE_MS = 2000.0
QUERIES = 5
SCROLL_S = 6.0
IDLE_S = 2.0


def seed_runs(db_url: str, workspace_id: str, experiment_id: str, runs: int) -> float:
    """`runs` finished runs with 4 metrics and 3 params each, in bulk; seconds taken.

    Narrower than the benchmark's 20 x 10 so the test seeds in seconds; ids are sorted so
    SQLite appends to its indexes instead of splitting pages at random.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(11)
    ids = sorted(uuid.uuid4().hex for _ in range(runs))
    base = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    metrics = rng.random((runs, 4)).tolist()
    params = rng.integers(0, 10, (runs, 3)).tolist()
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            # Hubs whose runs carry an integer key (runs.seq, copied as run_seq into the
            # summary and param rows) get one; the keys follow the runs already there.
            keyed = "seq" in {c["name"] for c in inspect(conn).get_columns("runs")}
            seqs: Sequence[int | None] = [None] * runs
            if keyed:
                last = conn.execute(text("SELECT coalesce(max(seq), 0) FROM runs")).scalar_one()
                seqs = range(int(last) + 1, int(last) + 1 + runs)
            key, key_of = (("seq",), lambda q: (q,)) if keyed else ((), lambda q: ())
            run_key = ("run_seq",) if keyed else ()
            _bulk(conn, "runs",
                  ("id", *key, "workspace_id", "experiment_id", "name", "status", "start_time",
                   "created_by"),
                  [(r, *key_of(q), workspace_id, experiment_id, f"run-{i}", 2,
                    base + timedelta(seconds=i), "seed")
                   for i, (r, q) in enumerate(zip(ids, seqs, strict=True))])  # fmt: skip
            _bulk(conn, "metric_series",
                  ("run_id", *run_key, "key", "last", "min", "max", "count", "last_step",
                   "last_timestamp_ms"),
                  [(r, *key_of(q), f"m{k}", v, v, v, 1, 0, 0)
                   for r, q, row in zip(ids, seqs, metrics, strict=True)
                   for k, v in enumerate(row)])  # fmt: skip
            _bulk(conn, "run_params", ("run_id", *run_key, "key", "value", "value_num"),
                  [(r, *key_of(q), f"p{k}", f"v{c}", None)
                   for r, q, row in zip(ids, seqs, params, strict=True)
                   for k, c in enumerate(row)])  # fmt: skip
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _bulk(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


@pytest.fixture
def settled_heap(desktop: Desktop) -> Iterator[None]:
    """As `modelfleet desktop` does once its window is built; undone afterwards for the leak
    guard, which finds live timers and threads through the collector."""
    settle_heap()
    yield
    gc.unfreeze()


def test_first_page_of_100k_runs_and_scrolling_without_stalls(
    running_hub: RunningHub, desktop: Desktop, settled_heap: None, qtbot, capsys
) -> None:
    with admin_client(running_hub, "default") as client:
        experiment = client.create_experiment("scale")
        workspace_id = client.get_workspace(workspace="default").id
    seed_s = seed_runs(running_hub.db_url, workspace_id, experiment.id, RUNS)
    vm = desktop.experiments
    page = _page(desktop)
    desktop.window.resize(1280, 800)
    desktop.shell.select_key("experiments")
    qtbot.waitExposed(desktop.window)
    sign_in(desktop, qtbot, running_hub)
    qtbot.waitUntil(lambda: vm.total == RUNS and not vm.loading, timeout=TIMEOUT_MS * 2)

    # First page: from the request to the rows in the model, a few different queries.
    samples = []
    queries = [experiment.id, "", experiment.id, "", experiment.id]
    for experiment_filter in queries[:QUERIES]:
        vm.set_experiment(experiment_filter)
        qtbot.waitUntil(lambda: not vm.loading and vm.model.rowCount() > 0, timeout=TIMEOUT_MS)
        assert vm.total == RUNS
        samples.append(vm.first_page_ms)
    first_page_ms = statistics.median(samples)

    # The same heartbeat with the page idle: what the shared machine alone costs.
    idle = GuiHeartbeat(interval_ms=10)
    idle.start()
    qtbot.wait(int(IDLE_S * 1000))
    idle.stop()

    # Scroll to the end again and again while pages arrive; the heartbeat measures stalls.
    bar = page.table.verticalScrollBar()
    heartbeat = GuiHeartbeat(interval_ms=10)
    heartbeat.start()
    deadline = time.monotonic() + SCROLL_S
    while time.monotonic() < deadline:
        bar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)
        qtbot.wait(40)
        bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)
        qtbot.wait(40)
    heartbeat.stop()
    loaded = vm.model.rowCount()

    report = (
        f"[runs table] load average {os.getloadavg()[0]:.1f}; "
        f"{RUNS:,} runs seeded in {seed_s:.1f} s; first page median "
        f"{first_page_ms:.0f} ms (samples {', '.join(f'{s:.0f}' for s in samples)} ms); "
        f"scrolled {SCROLL_S:g} s: {loaded:,} rows loaded, longest GUI gap "
        f"{heartbeat.longest_gap_ms:.1f} ms (GUI thread CPU in it "
        f"{heartbeat.worst_gap_cpu_ms:.1f} ms) over {heartbeat.ticks} ticks; idle page: "
        f"longest gap {idle.longest_gap_ms:.1f} ms (CPU {idle.worst_gap_cpu_ms:.1f} ms)"
    )
    with capsys.disabled():
        print("\n" + report)
    # Scrolling really paged through the hub (many pages).
    assert loaded >= 2_000, report
    assert first_page_ms <= FIRST_PAGE_MS, report
    # The GUI thread's own work in its worst gap is under the threshold: the page does its
    # fetching and converting on workers. The gap itself is reported, not judged: on a shared
    # machine it includes waiting for a core (little GUI CPU in it); it used to include the
    # collector's full passes, run by a worker with the interpreter lock held (80-570 ms, see
    # docs/benchmarks.md). Only a freeze of seconds fails here.
    assert heartbeat.worst_gap_cpu_ms <= MAX_STALL_MS, report
    assert heartbeat.longest_gap_ms <= MAX_FREEZE_MS, report
