"""Desktop: cold start of `modelfleet desktop` in local mode to an interactive window.

Each round launches the real command in a fresh user data dir (no connection profile, so
the app starts in local mode: the local hub and agent start on a worker once the window is
up) and times it from the launch to the app's "window interactive" log line, which the
event loop writes on its first turn after the window is shown. The app is then stopped with
SIGTERM (it stops the local hub and agent it began) and that time is reported as well.
Offscreen unless QT_QPA_PLATFORM or a display is set. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMAND = [str(Path(sys.executable).with_name("modelfleet")), "desktop", "--log-level", "info"]


def one_start(data_dir: Path, timeout_s: float) -> tuple[float, float]:
    """(launch -> window interactive, SIGTERM -> exited) in seconds."""
    env = {**os.environ, "MODELFLEET_DATA_DIR": str(data_dir)}
    if not any(env.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    started = time.perf_counter()
    proc = subprocess.Popen(COMMAND, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        deadline = started + timeout_s
        line = ""
        while "window interactive" not in line:
            line = proc.stderr.readline()
            if (not line and proc.poll() is not None) or time.perf_counter() > deadline:
                raise RuntimeError(f"no interactive window (exit code {proc.poll()})")
        interactive = time.perf_counter() - started
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        return interactive, time.perf_counter() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    interactive, stopped = [], []
    for _ in range(args.rounds):
        data_dir = Path(tempfile.mkdtemp(prefix="modelfleet-startup-"))
        try:
            to_window, to_exit = one_start(data_dir, args.timeout)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        interactive.append(round(to_window, 2))
        stopped.append(round(to_exit, 2))
    print(json.dumps({
        "benchmark": "desktop_startup",
        "rounds": args.rounds,
        "window_interactive_s": interactive,
        "median_s": round(statistics.median(interactive), 2),
        "sigterm_to_exit_s": stopped,
        "target_s": 3.0,
        "load_average": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
