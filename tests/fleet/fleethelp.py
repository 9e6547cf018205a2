"""Real processes for the fleet tests: a restartable hub, agents, a TCP proxy we can cut."""

from __future__ import annotations

import asyncio
import http.client
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from modelfleet.client import ClientSettings, HubClient
from modelfleet.client._calls import Scope
from modelfleet.proto.v1 import deployments_pb2, deployments_pb2_grpc, fleet_pb2, fleet_pb2_grpc

WORKSPACE = "fleet"
START_TIMEOUT = 60.0


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def _command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())", *args]


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env.update(extra or {})
    return env


class HubProcess:
    """`modelfleet hub init` once, then `hub serve` that can be killed and restarted on the
    same ports (agents only know the address they joined through)."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root = root
        self.data_dir = root / "hub"
        self.db_url = db_url
        self.password = "admin-" + secrets.token_urlsafe(12)
        password_file = root / "admin-password"
        password_file.write_text(self.password + "\n")
        subprocess.run(
            _command("modelfleet.cli", "hub", "init", "--data-dir", str(self.data_dir), "--db",
                     db_url, "--admin-password-file", str(password_file)),
            check=True, capture_output=True, env=_clean_env(), timeout=120,
        )  # fmt: skip
        self.port = 0
        self.agent_port = 0
        self.ca_fingerprint = ""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, **settings: str) -> None:
        ready = self.root / "hub-ready.json"
        ready.unlink(missing_ok=True)
        env = _clean_env({"MODELFLEET_HUB_AGENT_PORT": str(self.agent_port)})
        env.update({f"MODELFLEET_HUB_{k.upper()}": v for k, v in settings.items()})
        log = (self.root / "hub.log").open("ab")
        self.process = subprocess.Popen(
            _command("modelfleet.cli", "hub", "serve", "--data-dir", str(self.data_dir),
                     "--port", str(self.port), "--ready-file", str(ready)),
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        log.close()
        process = self.process

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"hub exited: {(self.root / 'hub.log').read_text()[-3000:]}")
            return ready.exists()

        wait_for(started, START_TIMEOUT, "the hub to start")
        info = orjson.loads(ready.read_bytes())
        self.port, self.agent_port = int(info["port"]), int(info["agent_port"])
        self.ca_fingerprint = str(info["ca_fingerprint"])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def admin(self) -> Admin:
        settings = ClientSettings(
            hub=self.address, hub_ca=self.ca_fingerprint, timeout=30, workspace=WORKSPACE
        )
        client = HubClient.connect(settings)
        client.login("admin", self.password)
        return Admin(client)


class Admin:
    """A signed-in workspace admin; fleet and deployment calls through the client's caller."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        caller = client._caller
        self._caller = caller
        self.fleet = fleet_pb2_grpc.FleetStub(caller.channel)
        self.deployments = deployments_pb2_grpc.DeploymentsStub(caller.channel)

    def call(self, name: str, method: Any, request: Any) -> Any:
        return self._caller.unary(
            name, method, request, idempotent=False, scope=Scope.REQUIRED, workspace=WORKSPACE
        )

    def join_token(
        self, environment: str, labels: dict[str, str] | None = None, ttl: int = 0
    ) -> str:
        request = fleet_pb2.CreateJoinTokenRequest(
            environment=environment, labels=labels or {}, ttl_seconds=ttl
        )
        return str(self.call("Fleet.CreateJoinToken", self.fleet.CreateJoinToken, request).token)

    def agent(self, agent_id: str) -> Any:
        request = fleet_pb2.GetAgentRequest(id=agent_id)
        return self.call("Fleet.GetAgent", self.fleet.GetAgent, request)

    def revoke(self, agent_id: str) -> Any:
        request = fleet_pb2.RevokeAgentRequest(id=agent_id)
        return self.call("Fleet.RevokeAgent", self.fleet.RevokeAgent, request)

    def deploy(self, name: str, env: str, model: str, version: int, selector: str = "") -> Any:
        request = deployments_pb2.DeployRequest(
            name=name, environment=env, model_name=model, model_version=version,
            selector=selector, reason="test",
        )  # fmt: skip
        return self.call("Deployments.Deploy", self.deployments.Deploy, request)

    def traffic(self, name: str, env: str, split: dict[int, int], sticky_key: str = "") -> Any:
        request = deployments_pb2.SetTrafficRequest(
            name=name, environment=env, sticky_key=sticky_key, reason="test",
            split=[deployments_pb2.TrafficSplit(model_version=v, percent=p)
                   for v, p in split.items()],
        )  # fmt: skip
        return self.call("Deployments.SetTraffic", self.deployments.SetTraffic, request)

    def rollback(self, name: str, env: str) -> Any:
        request = deployments_pb2.RollbackRequest(name=name, environment=env, reason="test")
        return self.call("Deployments.Rollback", self.deployments.Rollback, request)


def join(hub: HubProcess, token: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command("modelfleet.agent.cli", "join", "--hub", hub.address, "--token", token,
                 "--data-dir", str(data_dir)),
        capture_output=True, text=True, env=_clean_env(), timeout=60,
    )  # fmt: skip


@dataclass
class AgentProcess:
    """`modelfleet-agent run` on OS-chosen ports; kill -9 and restart keep the data dir."""

    data_dir: Path
    rollup_window_s: int = 2
    grace_s: float = 30.0
    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    grpc_port: int = 0
    agent_id: str = ""
    #: more `run` flags, e.g. ("--tls-from-hub",)
    extra: tuple[str, ...] = ()
    _connections: dict[int, http.client.HTTPConnection] = field(default_factory=dict)

    def start(self) -> AgentProcess:
        ready = self.data_dir / "ready.json"
        ready.unlink(missing_ok=True)
        log = (self.data_dir / "agent.log").open("ab")
        self.process = subprocess.Popen(
            _command("modelfleet.agent.cli", "run", "--data-dir", str(self.data_dir),
                     "--http-port", "0", "--grpc-port", "0", "--ready-file", str(ready),
                     "--heartbeat-s", "1", "--rollup-window-s", str(self.rollup_window_s),
                     "--grace-s", str(self.grace_s), "--max-batch-size", "0",
                     "--drain-timeout-s", "2", *self.extra),
            stdout=log, stderr=subprocess.STDOUT, env=_clean_env(),
        )  # fmt: skip
        log.close()
        process = self.process

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"agent exited: {self.log()[-3000:]}")
            return ready.exists()

        wait_for(started, START_TIMEOUT, "the agent to start")
        info = orjson.loads(ready.read_bytes())
        self.http_port, self.grpc_port = info["http_port"], info["grpc_port"]
        self.agent_id = info["agent_id"]
        self._connections.clear()
        return self

    def log(self) -> str:
        return (self.data_dir / "agent.log").read_text(errors="replace")

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def infer(self, model: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        """POST one row to /v2/models/<model>/infer: (status, answering version, body)."""
        row = {"name": "input", "datatype": "FP32", "shape": [1, 20], "data": [0.5] * 20}
        body = orjson.dumps({"inputs": [row]})
        key = threading.get_ident()
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = http.client.HTTPConnection(
                "127.0.0.1", self.http_port, timeout=30
            )
        try:
            connection.request("POST", f"/v2/models/{model}/infer", body, headers or {})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._connections.pop(key, None)
            raise
        return response.status, response.getheader("x-modelfleet-model-version") or "", data

    def serving(self, model: str, version: str | None = None) -> bool:
        try:
            status, answered, _ = self.infer(model)
        except OSError:
            return False
        return status == 200 and (version is None or answered == version)

    def outbox(self) -> tuple[int, int]:
        """(events still pending, last seq ever assigned), read from the agent's SQLite."""
        with sqlite3.connect(f"file:{self.data_dir / 'state.db'}?mode=ro", uri=True) as db:
            (pending,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(pending), int(row[0]) if row else 0


class TcpProxy:
    """A loopback TCP relay on its own event loop thread; `cut()` drops every connection and
    refuses new ones until `restore()`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    def cut(self) -> None:
        def abort_all() -> None:
            self._open = False
            for writer in list(self._writers):
                writer.transport.abort()

        self._loop.call_soon_threadsafe(abort_all)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_open", True)

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def route_through(agent_dir: Path, proxy: TcpProxy) -> None:
    """Point an enrolled agent's hub target at the proxy (the agent trusts the hub by its CA,
    not by address, so mutual TLS works through the relay)."""
    path = agent_dir / "identity.json"
    doc = orjson.loads(path.read_bytes())
    doc["agent_target"] = f"127.0.0.1:{proxy.port}"
    path.write_bytes(orjson.dumps(doc))
