"""Serving throughput with live monitoring (drift accumulation, prediction log) on vs off.

The serving benchmark's model and load (REST OIP single-row infer, 16 connections, dynamic
batching 64), against two agents started from the same model folder: one with a reference
profile beside the model (drift over 20 inputs + 2 prediction columns, 1,000-row windows),
one with `--no-monitoring`. Rounds alternate between them (on, off, on, off, ...) so that
load from other work on the machine hits both alike; the ratios are the comparable figures:
per round (on / the off round right after it) and overall, plus the agents' CPU time per
request (from /proc, so a busy machine that slows both alike does not hide the cost).
`--rounds N` (default 5) sets the number of on/off round pairs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from procstat import cpu_seconds  # noqa: E402
from serving import DURATION_S, MODEL, ensure_tool, wrk  # noqa: E402

from tests.monitoring.monitored import write_monitored_model  # noqa: E402
from tests.monitoring.traffic import snapshot  # noqa: E402
from tests.serving.agentproc import start_agent  # noqa: E402

ROUNDS = 5
FLAGS = ("--max-batch-size", "64", "--log-level", "warning")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="on/off round pairs")
    rounds = max(1, parser.parse_args().rounds)
    binary = ensure_tool("wrk", "wrk")
    result: dict[str, Any] = {
        "benchmark": "serving_drift",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "model": f"{MODEL} (20 FP32 features), drift on inputs + label + probabilities_1",
        "connections": 16,
        "duration_s_per_round": DURATION_S,
        "rounds": rounds,
    }
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        work = Path(tmp)
        models = write_monitored_model(work / "models")
        on = start_agent(models, work / "on", *FLAGS)
        off = start_agent(models, work / "off", *FLAGS, "--no-monitoring")
        rps: dict[str, list[float]] = {"on": [], "off": []}
        cpu_us: dict[str, list[float]] = {"on": [], "off": []}
        loop_us: dict[str, list[float]] = {"on": [], "off": []}
        errors = 0
        try:
            for _ in range(rounds):
                for label, agent in (("on", on), ("off", off)):
                    pid = agent.proc.pid
                    before, loop_before = cpu_seconds(pid), cpu_seconds(pid, pid)
                    measured = wrk(binary, agent, 16, work)
                    used = cpu_seconds(pid) - before
                    loop_used = cpu_seconds(pid, pid) - loop_before
                    requests = max(1, measured["requests"])
                    rps[label].append(measured["rps"])
                    cpu_us[label].append(1e6 * used / requests)
                    loop_us[label].append(1e6 * loop_used / requests)
                    errors += measured["errors"] + measured["non2xx"]
            drift = snapshot(on).drift
        finally:
            on.stop()
            off.stop()
    mean_on = sum(rps["on"]) / rounds
    mean_off = sum(rps["off"]) / rounds
    ratios = sorted(a / b for a, b in zip(rps["on"], rps["off"], strict=True))
    cpu_on = sum(cpu_us["on"]) / rounds
    cpu_off = sum(cpu_us["off"]) / rounds
    loop_on = sum(loop_us["on"]) / rounds
    loop_off = sum(loop_us["off"]) / rounds
    result.update(
        rest_rps_monitoring_on=[round(r) for r in rps["on"]],
        rest_rps_monitoring_off=[round(r) for r in rps["off"]],
        round_ratios_on_over_off_sorted=[round(r, 3) for r in ratios],
        mean_rps_on=round(mean_on),
        mean_rps_off=round(mean_off),
        throughput_cost_percent=round(100 * (1 - mean_on / mean_off), 1),
        median_round_cost_percent=round(100 * (1 - ratios[len(ratios) // 2]), 1),
        cpu_us_per_request_on=round(cpu_on, 1),
        cpu_us_per_request_off=round(cpu_off, 1),
        cpu_cost_percent=round(100 * (cpu_on / cpu_off - 1), 1),
        # the main thread runs the event loop, which every request goes through
        loop_cpu_us_per_request_on=round(loop_on, 1),
        loop_cpu_us_per_request_off=round(loop_off, 1),
        loop_cpu_cost_percent=round(100 * (loop_on / loop_off - 1), 1),
        drift_windows_closed=drift.windows_closed,
        drift_batches_dropped=drift.batches_dropped,
        errors=errors,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
