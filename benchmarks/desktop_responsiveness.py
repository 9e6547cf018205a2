"""Desktop: the longest GUI-thread stall while 20 metric streams push at 10 Hz and 1e6 points
are charted.

The Monitoring page of the real main window (offscreen unless a display is set) shows 20
streams; in front of one of them a million stored points are merged and the charts show
"Everything loaded". A 10 ms `GuiHeartbeat` on the GUI thread then runs for `--seconds`:
its longest gap between ticks is the longest stall. The streams are in-process generators
producing the snapshots an agent's WatchMetrics stream would (the desktop test of the same
scenario uses one real agent among them); running 20 agent processes would measure the
2-core machine, not the app.

Reported: longest gap and the 99th/50th percentile gap in ms, ticks, snapshots delivered,
the points the heavy curve actually draws, and the GUI thread's CPU time as a share of the
measured wall time (steadier than the gaps on a loaded machine) and in its longest gap.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "desktop"))
from feeds import history, simulated_agent  # the test suite's stream generators
from PySide6.QtWidgets import QApplication
from qtloop import wait

from modelfleet.desktop.app import build_desktop, settle_heap
from modelfleet.desktop.heartbeat import GuiHeartbeat
from modelfleet.desktop.series import TIME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    desktop = build_desktop(interval_ms=int(1000 / args.hz))
    settle_heap()  # as `modelfleet desktop` does once its window is built
    desktop.window.resize(1280, 800)
    desktop.window.show()
    vm = desktop.monitoring
    page = desktop.window.page(4)
    try:
        for i in range(args.streams):
            vm.add_stream(f"sim-{i}", simulated_agent(f"sim-{i}", hz=args.hz))
        wait(30, lambda: len(vm.series_keys()) == args.streams)
        heavy = vm.series_keys()[0]
        first_live = vm.series(heavy).buffer.column(TIME)[0]
        vm.merge_history(history(heavy.agent, heavy.model, args.points, end=first_live))
        page.table_model.set_shown(heavy, True)
        page.window_combo.setCurrentIndex(page.window_combo.count() - 1)
        curve = page.throughput_chart.curve(heavy, None, "#000")
        wait(10, lambda: curve.xData is not None and len(curve.xData) > args.points)

        heartbeat = GuiHeartbeat(interval_ms=10)
        before, cpu = vm.revision, time.thread_time()
        heartbeat.start()
        wait(args.seconds)
        heartbeat.stop()
        gui_cpu = (time.thread_time() - cpu) / args.seconds
        drawn = curve.curve.xData
        result = {
            "benchmark": "desktop_responsiveness",
            "streams": args.streams,
            "hz": args.hz,
            "history_points": vm.series(heavy).history_points,
            "drawn_points": 0 if drawn is None else len(drawn),
            "seconds": args.seconds,
            "ticks": heartbeat.ticks,
            "snapshots": vm.revision - before,
            "longest_gap_ms": round(heartbeat.longest_gap_ms, 1),
            "p99_gap_ms": round(heartbeat.gap_percentile_ms(99), 1),
            "p50_gap_ms": round(heartbeat.gap_percentile_ms(50), 1),
            "gui_cpu_share": round(gui_cpu, 3),
            "gui_cpu_in_longest_gap_ms": round(heartbeat.worst_gap_cpu_ms, 1),
            "load_average": round(os.getloadavg()[0], 2),
            "target_ms": 50,
        }
    finally:
        desktop.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
