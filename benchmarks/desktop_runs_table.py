"""Desktop: the Experiments page's runs table over 100,000 runs (first page, then scrolling).

A hub process (`hub init` + `hub serve`, SQLite unless `--backend postgresql`) gets
`--runs` runs x 20 metric summaries x 10 params written in bulk, as the tracking benchmark
does. The real main window (offscreen unless a display is set) signs in and shows the
Experiments page; then:

- first page: `--queries` times a new query (alternately one experiment and every
  experiment), each timed from the request to the rows being in the table model (the page's
  own `first_page_ms`);
- scrolling: for `--seconds`, the table's scroll bar jumps to the end (which loads the next
  page) and back a page, every 40 ms, while a 10 ms heartbeat on the GUI thread measures the
  longest gap between ticks and the GUI thread's own CPU time in that gap.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from hub_api import PASSWORD, postgres_database, running_hub
from PySide6.QtWidgets import QAbstractSlider, QApplication
from qtloop import wait
from tracking import seed_runs

from modelfleet.client import ClientSettings, FileStore, HubClient, Profile
from modelfleet.desktop.app import build_desktop, settle_heap
from modelfleet.desktop.heartbeat import GuiHeartbeat
from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runs-table-")))
        if args.backend == "postgresql":
            db_url = stack.enter_context(postgres_database())
        else:
            db_url = f"sqlite:///{tmp / 'hub.db'}"
        address, fingerprint = stack.enter_context(running_hub(db_url))
        settings = ClientSettings(hub=address, hub_ca=fingerprint, workspace="default")
        with HubClient.connect(settings) as admin:
            admin.login("admin", PASSWORD)
            experiment = admin.create_experiment("runs-table-bench")
            workspace_id = admin.get_workspace().id
        seed_s = seed_runs(db_url, workspace_id, experiment.id, args.runs)

        service = HubSessionService(FileStore(tmp / "credentials.json"))
        desktop = build_desktop(session_service=service, profiles=ProfileBook(tmp / "profiles"))
        stack.callback(desktop.shutdown)
        settle_heap()  # as `modelfleet desktop` does once its window is built
        desktop.window.resize(1280, 800)
        desktop.window.show()
        desktop.shell.select_key("experiments")
        session, vm = desktop.session, desktop.experiments
        session.book.save("bench", Profile(hub=address, hub_ca=fingerprint))
        session.sign_in("bench", address, "admin", PASSWORD)
        wait(60, lambda: vm.total >= args.runs and not vm.loading, poll_ms=5)
        if vm.total < args.runs:
            raise RuntimeError(f"the runs table shows {vm.total} runs, expected {args.runs}")

        first_pages = []
        for i in range(args.queries):
            vm.set_experiment(experiment.id if i % 2 == 0 else "")
            wait(30, lambda: not vm.loading and vm.model.rowCount() > 0, poll_ms=5)
            assert vm.first_page_ms is not None and vm.model.rowCount() > 0
            first_pages.append(round(vm.first_page_ms, 1))

        bar = desktop.window.page(1).table.verticalScrollBar()
        heartbeat = GuiHeartbeat(interval_ms=10)
        heartbeat.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            bar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)
            wait(0.04)
            bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)
            wait(0.04)
        heartbeat.stop()
        result = {
            "benchmark": "desktop_runs_table",
            "backend": args.backend,
            "runs": args.runs,
            "seed_s": round(seed_s, 1),
            "first_page_ms": first_pages,
            "first_page_median_ms": round(statistics.median(first_pages), 1),
            "first_page_target_ms": 300,
            "scroll_s": args.seconds,
            "rows_loaded": vm.model.rowCount(),
            "longest_gap_ms": round(heartbeat.longest_gap_ms, 1),
            "gui_cpu_in_longest_gap_ms": round(heartbeat.worst_gap_cpu_ms, 1),
            "p99_gap_ms": round(heartbeat.gap_percentile_ms(99), 1),
            "ticks": heartbeat.ticks,
            "gap_target_ms": 50,
            "load_average": round(os.getloadavg()[0], 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
