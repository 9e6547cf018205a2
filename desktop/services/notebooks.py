"""JupyterLab servers started by the desktop as child processes, with the SDK pre-connected.

The hub address, its pinned CA, the workspace and an API key made for the server reach
the notebooks only through the child's environment (`modelfleet.connect()` reads them):
nothing is written into a notebook or a file. Each server gets a private runtime folder,
its own Jupyter token and a session of its own, so stopping it stops what it started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from modelfleet.client import ConfigurationError, ModelfleetError
from modelfleet.desktop.services.cancel import CancelToken

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "pip install 'modelfleet[notebooks]'"


@dataclass(frozen=True)
class HubAccess:
    """How notebooks reach the hub; `api_key` is the secret, shown to nobody."""

    hub: str
    hub_ca: str
    workspace: str
    api_key: str = field(repr=False)
    api_key_id: str = ""

    def environment(self) -> dict[str, str]:
        return {
            "MODELFLEET_HUB": self.hub,
            "MODELFLEET_HUB_CA": self.hub_ca,
            "MODELFLEET_WORKSPACE": self.workspace,
            "MODELFLEET_API_KEY": self.api_key,
        }


@dataclass(frozen=True)
class NotebookServer:
    """A running server: `url` opens it in a browser (it carries the Jupyter token)."""

    pid: int
    url: str = field(repr=False)
    root_dir: Path
    workspace: str
    api_key_id: str
    started_at: float

    @property
    def address(self) -> str:
        """The URL without its token, for display."""
        return self.url.split("?", 1)[0]


def jupyter_command(root_dir: Path) -> list[str]:
    """JupyterLab from this Python environment on a loopback port chosen by the OS."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise ConfigurationError(f"JupyterLab is not installed here: {INSTALL_HINT}")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0", f"--ServerApp.root_dir={root_dir}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # Jupyter refuses root unless told; we run as asked
    return command


def child_environment(access: HubAccess, extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any other MODELFLEET_* credentials, plus `access`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env.update(access.environment())
    env.update(extra)
    return env


class NotebookLauncher:
    """Starts, lists and stops servers; thread-safe (starts run on workers)."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        # A fixed command replaces JupyterLab (it must write the same runtime file).
        self._command = list(command) if command is not None else None
        self._lock = threading.Lock()
        self._children: dict[int, tuple[subprocess.Popen[bytes], NotebookServer, Path]] = {}

    def start(self, root_dir: Path, access: HubAccess, token: CancelToken) -> NotebookServer:
        """Start a server in `root_dir` and wait until it listens; `Cancelled` stops it."""
        if not root_dir.is_dir():
            raise ConfigurationError(
                f"Notebook folder: expected an existing folder, got {root_dir}"
            )
        command = self._command or jupyter_command(root_dir)
        runtime = Path(tempfile.mkdtemp(prefix="modelfleet-jupyter-"))
        jupyter_token = secrets.token_urlsafe(24)
        env = child_environment(
            access, {"JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_TOKEN": jupyter_token}
        )
        log = (runtime / "server.log").open("wb")
        process = subprocess.Popen(
            command, cwd=root_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        try:
            url = self._wait_ready(process, runtime, jupyter_token, token)
        except BaseException:
            _terminate(process)
            shutil.rmtree(runtime, ignore_errors=True)
            raise
        server = NotebookServer(
            process.pid, url, root_dir, access.workspace, access.api_key_id, time.time()
        )
        with self._lock:
            self._children[process.pid] = (process, server, runtime)
        return server

    def _wait_ready(
        self,
        process: subprocess.Popen[bytes],
        runtime: Path,
        jupyter_token: str,
        token: CancelToken,
    ) -> str:
        info_file = runtime / f"jpserver-{process.pid}.json"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not info_file.exists():
            if process.poll() is not None:
                tail = (runtime / "server.log").read_bytes()[-1500:].decode(errors="replace")
                raise ModelfleetError(
                    f"the notebook server exited with code {process.returncode}: {tail.strip()}"
                )
            if time.monotonic() > deadline:
                raise ModelfleetError(f"the notebook server did not start in {START_TIMEOUT_S:g} s")
            token.wait(0.1)
        # Written once the server listens; a half-written file is read again next turn.
        while True:
            try:
                info = orjson.loads(info_file.read_bytes())
                return f"{str(info['url']).rstrip('/')}/lab?token={jupyter_token}"
            except (orjson.JSONDecodeError, KeyError):
                token.wait(0.05)

    def running(self) -> list[NotebookServer]:
        """Servers still alive, oldest first (ones that exited on their own are dropped)."""
        with self._lock:
            for pid, (process, _server, runtime) in list(self._children.items()):
                if process.poll() is not None:
                    del self._children[pid]
                    shutil.rmtree(runtime, ignore_errors=True)
            return sorted((s for _p, s, _r in self._children.values()), key=lambda s: s.started_at)

    def stop(self, pid: int) -> NotebookServer | None:
        """Stop one server (its kernels shut down with it); None if it was not ours."""
        with self._lock:
            child = self._children.pop(pid, None)
        if child is None:
            return None
        process, server, runtime = child
        _terminate(process)
        shutil.rmtree(runtime, ignore_errors=True)
        return server

    def stop_all(self) -> list[NotebookServer]:
        with self._lock:
            pids = list(self._children)
        return [s for pid in pids if (s := self.stop(pid)) is not None]


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's session (Jupyter shuts its kernels down), SIGKILL if it hangs."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    # Anything the server left in its session (a kernel that ignored the shutdown) goes too.
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
