"""Starting, watching and stopping local mode's child processes (the hub and the agent)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

CHILD_MODULE = "modelfleet.local._child"


class LocalStackError(RuntimeError):
    """The local hub or agent could not be started; the message says why and where the log is."""


class ParentLink:
    """The pipe that ties children to this process: they stop when its write end closes."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()  # both non-inheritable by default

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def spawn(
    role: str,
    args: Sequence[str],
    log_file: Path,
    link: ParentLink,
    *,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `modelfleet hub ARGS` or `modelfleet-agent ARGS` under the parent watchdog.

    A child gets a process group of its own so that a Ctrl-C in the terminal reaches only
    the app, which then stops its children in order (agent first, then hub).
    """
    command = [
        sys.executable, "-m", CHILD_MODULE,
        "--watch-fd", str(link.read_fd), role, *args,
    ]  # fmt: skip
    with log_file.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(link.read_fd,),
            env={**os.environ, **(env or {})},
            process_group=0,
        )


def read_ready(path: Path) -> dict[str, Any] | None:
    """The ready file's document, or None while it is missing or half-written."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def wait_ready(
    process: subprocess.Popen[bytes],
    ready_file: Path,
    log_file: Path,
    what: str,
    timeout: float,
    cancelled: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Wait until `process` writes `ready_file`; LocalStackError if it exits or times out."""
    deadline = time.monotonic() + timeout
    while True:
        doc = read_ready(ready_file)
        if doc is not None and doc.get("pid") == process.pid:
            return doc
        if process.poll() is not None:
            raise LocalStackError(
                f"the local {what} exited with code {process.returncode} while starting; "
                f"its log ({log_file}) ends with:\n{tail(log_file)}"
            )
        if cancelled():
            raise LocalStackError(f"cancelled while the local {what} was starting")
        if time.monotonic() > deadline:
            raise LocalStackError(
                f"the local {what} did not get ready within {timeout:.0f} s; see {log_file}"
            )
        time.sleep(0.02)


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie of ours)."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        # Reap it if it is our own exited child, so it does not linger as a zombie.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no procfs (macOS): kill(0) succeeding is all we can know
    return stat.rpartition(")")[2].split()[0] == "Z"


def is_local_child(pid: int) -> bool:
    """Whether `pid` runs local mode's child entry point (not a recycled pid)."""
    import psutil  # type: ignore[import-untyped]

    try:
        return CHILD_MODULE in psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def stop_pid(pid: int, timeout: float) -> bool:
    """SIGTERM, wait up to `timeout`, then SIGKILL; True when the process is gone."""
    if not pid_alive(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return _wait_gone(pid, 5.0)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
