"""`LocalStack`: the embedded default — a hub and an agent on this machine, run as children.

The first instance starts `modelfleet hub serve` and `modelfleet-agent run` on OS-chosen
ports, enrols the agent once and signs in as the local admin; later instances find the
record of the running stack and reuse it. The children stop when the owning instance
stops, exits, or dies (see `_child.py`).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from modelfleet import __version__
from modelfleet.client import (
    ClientSettings,
    CredentialStore,
    HubClient,
    Profile,
    StoredTokens,
    account_name,
    default_store,
)
from modelfleet.fleet.endpoints import agent_target, split_host_port
from modelfleet.local import _record
from modelfleet.local._children import (
    LocalStackError,
    ParentLink,
    is_local_child,
    spawn,
    stop_pid,
    tail,
    wait_ready,
)
from modelfleet.local._events import DONE, FAILED, STARTED, OnStep, Reporter
from modelfleet.local._paths import LocalPaths
from modelfleet.local._record import HOST, StackInfo
from modelfleet.paths import write_private_file

ADMIN = "admin"
WORKSPACE = "default"
ENVIRONMENT = "local"
START_TIMEOUT_S = 90.0
ONLINE_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CLIENT_TIMEOUT_S = 30.0
# Short windows so a new user's pages fill within seconds, not minutes.
AGENT_OPTIONS = (
    "--http-port", "0", "--grpc-port", "0", "--heartbeat-s", "2", "--rollup-window-s", "5",
    "--grace-s", "10", "--drain-timeout-s", "2", "--log-level", "warning",
)  # fmt: skip


class LocalStack:
    """Start (or reuse) the local hub and agent; `stop()` ends them if this instance owns them.

    Thread-safe for one `start()` at a time; `start()` may run on a worker thread.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        store: CredentialStore | None = None,
        on_step: OnStep | None = None,
    ) -> None:
        self.paths = LocalPaths(root) if root is not None else LocalPaths.default()
        self._store = store
        self._on_step = on_step
        self._lock = threading.Lock()
        self._link: ParentLink | None = None
        self._children: list[subprocess.Popen[bytes]] = []
        self._cancel = threading.Event()
        self.info: StackInfo | None = None
        self.owned = False

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            self._store = default_store(announce=False)
        return self._store

    # --- start -----------------------------------------------------------------------------

    def start(self, on_step: OnStep | None = None) -> StackInfo:
        """The running stack: reused when another instance runs it, else started here.

        `on_step` (default: the constructor's) hears each step of this call.
        """
        with self._lock:
            if self.info is not None:
                return self.info
            report = Reporter(on_step or self._on_step)
            with _record.locked(self.paths):
                running = _record.load(self.paths)
                if running is not None and _record.is_running(self.paths, running):
                    report("stack", DONE, f"reusing the local hub at {running.hub_address}")
                    self.info = running
                else:
                    if running is not None:
                        _stop_leftovers(running)
                    self.info = self._start_children(report)
                    self.owned = True
                    atexit.register(self.stop)
                    _record.save(self.paths, self.info)
            self._sign_in(self.info)
            report("stack", DONE, "signed in as the local admin")
            return self.info

    def cancel(self) -> None:
        """Make a `start()` in progress give up (the app is closing)."""
        self._cancel.set()

    def _start_children(self, report: Reporter) -> StackInfo:
        paths = self.paths
        paths.ensure()
        self._link = ParentLink()
        try:
            self._init_hub(report)
            report("hub", STARTED, "starting the local hub")
            hub, agent_process = self._start_hub()
            address = f"{HOST}:{hub['port']}"
            report("hub", DONE, f"hub listening on {address}")
            fingerprint = str(hub["ca_fingerprint"])
            report("agent", STARTED, "starting the local agent")
            agent_id = self._enrol_or_repoint(address, int(hub["agent_port"]), fingerprint)
            agent = self._wait("agent", agent_process or self._spawn_agent())
            info = StackInfo(
                owner_pid=os.getpid(),
                hub_pid=int(hub["pid"]),
                hub_port=int(hub["port"]),
                hub_agent_port=int(hub["agent_port"]),
                ca_fingerprint=fingerprint,
                agent_pid=int(agent["pid"]),
                agent_http_port=int(agent["http_port"]),
                agent_grpc_port=int(agent["grpc_port"]),
                agent_id=agent_id,
                workspace=WORKSPACE,
                environment=ENVIRONMENT,
                username=ADMIN,
            )
            self._wait_online(info)
            report("agent", DONE, f"agent {agent_id[:8]} online, serving on {info.rest_url}")
            return info
        except BaseException as exc:
            report("stack", FAILED, str(exc))
            self._stop_children()
            raise

    def _start_hub(self) -> tuple[dict[str, Any], subprocess.Popen[bytes] | None]:
        """The hub's ready document, and the agent when it could start alongside the hub.

        An enrolled agent knows where the hub was last time: the hub asks for those ports
        again, so the agent need not wait for it. Ports taken meanwhile: OS-chosen ones, and
        the agent starts once it has been pointed at them.
        """
        last = self._last_ports()
        if last is not None:
            hub_port, agent_port = last
            address = f"{HOST}:{hub_port}"
            _repoint(self.paths.agent, address, agent_target(address, agent_port))
            hub_process, agent_process = self._spawn_hub(hub_port, agent_port), self._spawn_agent()
            try:
                return self._wait("hub", hub_process), agent_process
            except LocalStackError:
                if self._cancel.is_set():
                    raise
                self._stop_processes()
        hub = self._wait("hub", self._spawn_hub(0, 0))
        write_private_file(
            self.paths.ports, orjson.dumps([int(hub["port"]), int(hub["agent_port"])])
        )
        return hub, None

    def _last_ports(self) -> tuple[int, int] | None:
        from modelfleet.agent.node.enrol import DataDir

        if not DataDir(self.paths.agent).is_enrolled():
            return None
        try:
            hub_port, agent_port = orjson.loads(self.paths.ports.read_bytes())
            return int(hub_port), int(agent_port)
        except (FileNotFoundError, orjson.JSONDecodeError, TypeError, ValueError):
            return None

    def _spawn_hub(self, port: int, agent_port: int) -> subprocess.Popen[bytes]:
        return self._spawn(
            "hub",
            ["serve", "--data-dir", str(self.paths.hub), "--port", str(port),
             "--ready-file", str(self.paths.hub_ready)],
            {"MODELFLEET_HUB_AGENT_PORT": str(agent_port)},
        )  # fmt: skip

    def _spawn_agent(self) -> subprocess.Popen[bytes]:
        paths = self.paths
        return self._spawn(
            "agent",
            ["run", "--data-dir", str(paths.agent), "--ready-file", str(paths.agent_ready),
             *AGENT_OPTIONS],
        )  # fmt: skip

    def _init_hub(self, report: Reporter) -> None:
        """`modelfleet hub init` when the hub is new or the package changed since (idempotent)."""
        paths = self.paths
        stamp = _init_stamp()
        with contextlib.suppress(FileNotFoundError):
            if paths.init_stamp.read_text() == stamp and (paths.hub / "hub.json").exists():
                return
        report("hub", STARTED, "creating the local hub (first run)")
        if not paths.admin_password.exists():
            write_private_file(paths.admin_password, secrets.token_urlsafe(24).encode())
        log_file = paths.logs / "hub-init.log"
        assert self._link is not None
        process = spawn(
            "hub",
            ["init", "--data-dir", str(paths.hub), "--admin-user", ADMIN,
             "--admin-password-file", str(paths.admin_password)],
            log_file,
            self._link,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while (code := process.poll()) is None:
            if self._cancel.is_set() or time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise LocalStackError("`modelfleet hub init` was cancelled or timed out")
            time.sleep(0.05)
        if code != 0:
            raise LocalStackError(f"`modelfleet hub init` failed:\n{tail(log_file)}")
        paths.init_stamp.write_text(stamp)

    def _spawn(
        self, role: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        assert self._link is not None
        self._ready_file(role).unlink(missing_ok=True)
        process = spawn(role, args, self.paths.logs / f"{role}.log", self._link, env=env)
        self._children.append(process)
        return process

    def _wait(self, role: str, process: subprocess.Popen[bytes]) -> dict[str, Any]:
        log_file = self.paths.logs / f"{role}.log"
        ready_file = self._ready_file(role)
        return wait_ready(process, ready_file, log_file, role, START_TIMEOUT_S, self._cancel.is_set)

    def _ready_file(self, role: str) -> Path:
        return self.paths.hub_ready if role == "hub" else self.paths.agent_ready

    def _enrol_or_repoint(self, hub: str, agent_port: int, fingerprint: str) -> str:
        """Enrol the agent on first use; later, point its identity at the hub's new ports."""
        from modelfleet.agent.node.enrol import DataDir, EnrolError, join

        folder = DataDir(self.paths.agent)
        if folder.is_enrolled():
            _repoint(self.paths.agent, hub, agent_target(hub, agent_port))
            return folder.load().agent_id
        with self._admin_client(hub, fingerprint) as client:
            token = client.create_join_token(ENVIRONMENT, {"host": "local"}, ttl_seconds=600)
        try:
            return join(hub, token.token, self.paths.agent).agent_id
        except EnrolError as exc:
            raise LocalStackError(f"the local agent could not enrol: {exc}") from None

    def _wait_online(self, info: StackInfo) -> None:
        deadline = time.monotonic() + ONLINE_TIMEOUT_S
        with self._admin_client(info.hub_address, info.ca_fingerprint) as client:
            while True:
                agent = client.get_agent(info.agent_id)
                if agent.state == "online":
                    return
                if self._cancel.is_set() or time.monotonic() > deadline:
                    raise LocalStackError(
                        f"the local agent is {agent.state}, not online, after "
                        f"{ONLINE_TIMEOUT_S:.0f} s; see {self.paths.logs / 'agent.log'}"
                    )
                time.sleep(0.1)

    # --- signing in --------------------------------------------------------------------------

    def _admin_client(self, hub: str, fingerprint: str) -> HubClient:
        settings = ClientSettings(
            hub=hub, hub_ca=fingerprint, workspace=WORKSPACE, timeout=CLIENT_TIMEOUT_S
        )
        client = HubClient.connect(settings)
        try:
            client.login(ADMIN, self.paths.admin_password.read_text().strip())
        except BaseException:
            client.close()
            raise
        return client

    def _sign_in(self, info: StackInfo) -> None:
        """Sign in and keep the tokens in the credential store, as `modelfleet login` would."""
        with self._admin_client(info.hub_address, info.ca_fingerprint) as client:
            pair = client.login(ADMIN, self.paths.admin_password.read_text().strip())
        tokens = StoredTokens(pair.refresh_token, pair.access_token, pair.access_expires_at)
        self.store.save(account_name(info.hub_address, ADMIN), tokens)

    def connect(self) -> HubClient:
        """A new client signed in as the local admin in the default workspace (caller closes).

        Each client signs in on its own, so clients never share a rotating refresh token.
        """
        info = self.start()
        return self._admin_client(info.hub_address, info.ca_fingerprint)

    def profile(self) -> Profile:
        """The connection profile of the local hub (its stored sign-in is in `store`)."""
        info = self.start()
        return Profile(
            hub=info.hub_address,
            hub_ca=info.ca_fingerprint,
            username=ADMIN,
            workspace=WORKSPACE,
        )

    # --- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the children if this instance started them (agent first); safe to repeat."""
        with self._lock:
            if self.owned and self.info is not None:
                _record.forget(self.paths, self.info.owner_pid)
            self._stop_children()
            self.owned = False
            self.info = None

    def _stop_children(self) -> None:
        self._stop_processes()
        if self._link is not None:
            self._link.close()
            self._link = None

    def _stop_processes(self) -> None:
        """Newest first: the agent stops before the hub it reports to."""
        for process in reversed(self._children):
            if not stop_pid(process.pid, STOP_TIMEOUT_S):
                raise LocalStackError(f"local child process {process.pid} did not stop")
            process.wait()
        self._children.clear()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _init_stamp() -> str:
    """The package version and the hub's migrations: when either changes, init runs again."""
    # Located, not imported: importing the hub's database code would cost the app a second.
    spec = importlib.util.find_spec("modelfleet.agent.hub")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "db" / "migrations" / "versions"
    names = sorted(p.name for p in folder.glob("*.py"))
    return orjson.dumps({"version": __version__, "migrations": names}).decode()


def _repoint(agent_dir: Path, hub: str, target: str) -> None:
    """Update the enrolled agent's hub addresses (the local hub's ports change every start).

    The agent trusts the hub by its pinned CA, not by address, so only the addresses move.
    """
    from modelfleet.agent.node.enrol._identity import IDENTITY_FILE

    path = agent_dir / IDENTITY_FILE
    doc = orjson.loads(path.read_bytes())
    port = split_host_port(target)[1]
    if (doc.get("hub"), doc.get("agent_target"), doc.get("agent_port")) != (hub, target, port):
        doc.update(hub=hub, agent_target=target, agent_port=port)
        write_private_file(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def _stop_leftovers(info: StackInfo) -> None:
    """Children of an owner that is gone (they normally stop themselves): stop them.

    Only processes that still run our child entry point: a recorded pid may have been
    recycled for something else since.
    """
    for pid in (info.agent_pid, info.hub_pid):
        if is_local_child(pid):
            stop_pid(pid, STOP_TIMEOUT_S)
