"""The record of a running local stack (who owns it, pids and ports) and the lock around it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import orjson

from modelfleet.local._children import LocalStackError, pid_alive, read_ready
from modelfleet.local._paths import LocalPaths
from modelfleet.paths import write_private_file

LOCK_TIMEOUT_S = 180.0
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class StackInfo:
    """A running local hub and agent: where they listen and which processes they are."""

    owner_pid: int
    hub_pid: int
    hub_port: int
    hub_agent_port: int
    ca_fingerprint: str
    agent_pid: int
    agent_http_port: int
    agent_grpc_port: int
    agent_id: str
    workspace: str
    environment: str
    username: str

    @property
    def hub_address(self) -> str:
        return f"{HOST}:{self.hub_port}"

    @property
    def rest_url(self) -> str:
        """The agent's HTTP base URL (Open Inference Protocol and friendly REST API)."""
        return f"http://{HOST}:{self.agent_http_port}"

    @property
    def grpc_target(self) -> str:
        """The agent's gRPC address (Open Inference Protocol)."""
        return f"{HOST}:{self.agent_grpc_port}"


def save(paths: LocalPaths, info: StackInfo) -> None:
    write_private_file(paths.state, orjson.dumps(asdict(info), option=orjson.OPT_INDENT_2))


def load(paths: LocalPaths) -> StackInfo | None:
    try:
        doc = orjson.loads(paths.state.read_bytes())
        return StackInfo(**doc)
    except (FileNotFoundError, orjson.JSONDecodeError, TypeError):
        return None


def forget(paths: LocalPaths, owner_pid: int) -> None:
    """Remove the record if `owner_pid` still owns it (a newer owner's record stays)."""
    current = load(paths)
    if current is not None and current.owner_pid == owner_pid:
        paths.state.unlink(missing_ok=True)


def is_running(paths: LocalPaths, info: StackInfo) -> bool:
    """Owner, hub and agent alive, ready files naming the same pids, hub port answering.

    The ready-file check guards against a recycled pid that now belongs to something else.
    """
    hub, agent = read_ready(paths.hub_ready), read_ready(paths.agent_ready)
    return (
        pid_alive(info.owner_pid)
        and pid_alive(info.hub_pid)
        and pid_alive(info.agent_pid)
        and hub is not None
        and hub.get("pid") == info.hub_pid
        and agent is not None
        and agent.get("pid") == info.agent_pid
        and _accepts(info.hub_port)
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def locked(paths: LocalPaths, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the stack lock: one process at a time decides whether to start or reuse."""
    paths.ensure()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalStackError(
                        f"another modelfleet instance has been starting the local stack "
                        f"for over {timeout:.0f} s (lock {paths.lock})"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
