"""Start an Xvfb server on a free display number for tests that need a real X display."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def xvfb(width: int = 1280, height: int = 800) -> Iterator[str]:
    """Yield the DISPLAY value of a fresh Xvfb server; stop it afterwards."""
    for number in range(90, 190):
        if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        socket = Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.monotonic() + 10
        while proc.poll() is None and not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None:
            continue  # lost a race for this number to another server
        if not socket.exists():
            proc.kill()
            raise RuntimeError("Xvfb did not start within 10 s")
        try:
            yield f":{number}"
        finally:
            proc.terminate()
            proc.wait(10)
        return
    raise RuntimeError("no free X display number in :90..:189")


def xcb_env(display: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
    return {**env, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", **extra}
