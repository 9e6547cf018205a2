"""Real processes for the local-mode tests: an app instance owning a LocalStack, CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from modelfleet.local import StackInfo

# An app instance: owns (or reuses) the stack, prints it as JSON, stops on stdin EOF/SIGTERM.
INSTANCE = """
import dataclasses, signal, sys, orjson
from modelfleet.client import FileStore
from modelfleet.local import LocalStack
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # atexit then stops the children
stack = LocalStack(store=FileStore())
info = stack.start()
doc = {**dataclasses.asdict(info), "owned": stack.owned, "pid": __import__("os").getpid()}
print(orjson.dumps(doc).decode(), flush=True)
sys.stdin.read()
stack.stop()
"""


def local_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env["MODELFLEET_DATA_DIR"] = str(data_dir)
    return env


class Instance:
    """`INSTANCE` in a subprocess: what it printed, and the process to stop or kill."""

    def __init__(self, data_dir: Path, timeout: float = 180.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", INSTANCE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=local_env(data_dir),
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            _, err = self.process.communicate(timeout=timeout)
            raise RuntimeError(f"app instance failed: {err.decode()[-3000:]}")
        self.doc: dict[str, Any] = orjson.loads(line)
        fields = StackInfo.__dataclass_fields__
        self.info = StackInfo(**{k: v for k, v in self.doc.items() if k in fields})

    def close(self, timeout: float = 60.0) -> int:
        """Let it exit as an app does (its stdin closes); the exit code."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
        return self.process.wait(timeout)


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def gone(pid: int) -> bool:
    """The process has exited (a zombie of another parent counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def running_children(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [
        line
        for line in out.stdout.splitlines()
        if "modelfleet.local._child" in line and str(data_dir) in line
    ]
