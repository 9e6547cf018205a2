"""`modelfleet desktop`: one line and exit 1 without a display; opens and quits under X."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from xvfb import xcb_env, xvfb

from modelfleet.cli.desktop import NO_DISPLAY, has_display

COMMAND = [str(Path(sys.executable).with_name("modelfleet")), "desktop"]


def test_display_detection():
    assert not has_display({}, "linux")
    assert has_display({"DISPLAY": ":0"}, "linux")
    assert has_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert has_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert has_display({}, "darwin") and has_display({}, "win32")


def test_without_a_display_it_says_so_in_one_line_and_fails():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    result = subprocess.run(COMMAND, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == "" and result.stderr == NO_DISPLAY + "\n"


def test_bad_agent_address_is_a_one_line_error():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [*COMMAND, "--agent", "nowhere"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("modelfleet: error: Agent address: expected host:port")
    assert result.stderr.count("\n") == 1


def test_opens_the_window_under_x_and_quits_on_sigterm(tmp_path):
    with xvfb() as display:
        env = xcb_env(display, MODELFLEET_DATA_DIR=str(tmp_path))
        proc = subprocess.Popen(
            [*COMMAND, "--log-level", "info"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 60
            line = ""
            while "window interactive" not in line and time.monotonic() < deadline:
                line = proc.stderr.readline()
                assert line or proc.poll() is None, "exited before the window opened"
            assert "window interactive" in line
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
