"""Serving throughput with live monitoring (drift accumulation, prediction log) on vs off.

The serving benchmark's model and load (REST OIP single-row infer, 16 connections, dynamic
batching 64), against two agents started from the same model folder: one with a reference
profile beside the model (drift over 20 inputs + 2 prediction columns, 1,000-row windows),
one with `--no-monitoring`. Rounds alternate between them (on, off, on, off, ...) so that
load from other work on the machine hits both alike; the ratio is the comparable figure.
Prints one JSON line.
"""

from __future__ import annotations

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
from serving import DURATION_S, MODEL, ensure_wrk, wrk  # noqa: E402

from tests.monitoring.monitored import write_monitored_model  # noqa: E402
from tests.monitoring.traffic import snapshot  # noqa: E402
from tests.serving.agentproc import start_agent  # noqa: E402

ROUNDS = 3
FLAGS = ("--max-batch-size", "64", "--log-level", "warning")


def main() -> int:
    binary = ensure_wrk()
    result: dict[str, Any] = {
        "benchmark": "serving_drift",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "model": f"{MODEL} (20 FP32 features), drift on inputs + label + probabilities_1",
        "connections": 16,
        "duration_s_per_round": DURATION_S,
        "rounds": ROUNDS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        work = Path(tmp)
        models = write_monitored_model(work / "models")
        on = start_agent(models, work / "on", *FLAGS)
        off = start_agent(models, work / "off", *FLAGS, "--no-monitoring")
        rps: dict[str, list[float]] = {"on": [], "off": []}
        errors = 0
        try:
            for _ in range(ROUNDS):
                for label, agent in (("on", on), ("off", off)):
                    measured = wrk(binary, agent, 16, work)
                    rps[label].append(measured["rps"])
                    errors += measured["errors"] + measured["non2xx"]
            drift = snapshot(on).drift
        finally:
            on.stop()
            off.stop()
    mean_on = sum(rps["on"]) / ROUNDS
    mean_off = sum(rps["off"]) / ROUNDS
    result.update(
        rest_rps_monitoring_on=[round(r) for r in rps["on"]],
        rest_rps_monitoring_off=[round(r) for r in rps["off"]],
        mean_rps_on=round(mean_on),
        mean_rps_off=round(mean_off),
        throughput_cost_percent=round(100 * (1 - mean_on / mean_off), 1),
        drift_windows_closed=drift.windows_closed,
        drift_batches_dropped=drift.batches_dropped,
        errors=errors,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
