"""Quick Start: time from `modelfleet quickstart` to live traffic, as a new user sees it.

Runs the headless Quick Start twice in one fresh user data dir: a cold run (the local hub
is created: `hub init`, first enrolment) and a warm run (hub and agent exist). For each:
seconds from launching the command to the "Quick Start is live" line (the printed
seconds-to-traffic as well) and to the first live summary line; then Ctrl-C (SIGINT) and
the seconds until the command has stopped its hub and agent. The load runs on the same
machine, so compare the runs of one invocation rather than across machines.

Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LIVE = re.compile(r"Quick Start is live \(([\d.]+) s to traffic\)")
SUMMARY = re.compile(r"^\s+\d\d:\d\d:\d\d\s+[\d.]+ req/s")


def run_once(data_dir: Path, timeout: float = 300.0) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env["MODELFLEET_DATA_DIR"] = str(data_dir)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    t0 = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from modelfleet.cli import main; sys.exit(main())",
         "quickstart", "--every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    result: dict[str, Any] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if time.monotonic() - t0 > timeout:
            break
        if match := LIVE.search(line):
            result["live_s"] = round(time.monotonic() - t0, 2)
            result["reported_to_traffic_s"] = float(match.group(1))
        elif SUMMARY.match(line):
            result["first_summary_s"] = round(time.monotonic() - t0, 2)
            break
    t_stop = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    result["stop_s"] = round(time.monotonic() - t_stop, 2)
    result["exit_code"] = process.returncode
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="modelfleet-bench-quickstart-") as folder:
        cold = run_once(Path(folder))
        warm = run_once(Path(folder))
    print(json.dumps({"benchmark": "quickstart", "cpus": os.cpu_count(),
                      "load_avg_1m": round(os.getloadavg()[0], 2),
                      "cold": cold, "warm": warm}))  # fmt: skip


if __name__ == "__main__":
    main()
