"""Start and stop real `modelfleet-agent serve` processes on OS-chosen ports."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from modelfleet.proto.inference import grpc_predict_v2_pb2 as oip_pb2
from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from modelfleet.proto.v1 import agent_pb2_grpc

READY_TIMEOUT_S = 60.0
AGENT_COMMAND = Path(sys.executable).with_name("modelfleet-agent")

# Limits of the shared test agent: small enough that the 413 cases stay cheap to send.
MAX_BODY_BYTES = 1 << 20
MAX_BATCH_ROWS = 1000
SHARED_FLAGS = ("--max-body-bytes", str(MAX_BODY_BYTES), "--max-batch-rows", str(MAX_BATCH_ROWS))


class AgentFailed(RuntimeError):
    """The agent exited or never became ready; the message carries its stderr."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        """The `error` message of a REST error body (fails loudly when the body is not one)."""
        payload = self.json()
        assert isinstance(payload, dict) and isinstance(payload.get("error"), str), self.body
        return str(payload["error"])


class Rest:
    """A keep-alive HTTP/1.1 client; one per thread."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        fresh = self._conn is None
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self._conn.request(method, path, body=data, headers=hdrs)
            resp = self._conn.getresponse()
            payload = resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if fresh:
                raise
            # The server may close an idle keep-alive connection; a client retries on a new one.
            return self.request(method, path, body, headers)
        result = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
        if result.headers.get("connection", "").lower() == "close":
            self.close()
        return result

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: bytes | dict[str, Any] | None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def send_early_answered(port: int, method: str, path: str, body: bytes) -> Response:
    """Send a request whose body the server may refuse (413) and close on before reading it all.

    http.client writes the whole body before reading, so it sees only the broken pipe; this
    reads the early answer the way curl and browsers do.
    """
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    header_block, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    headers = {k.lower(): v for k, v in headers.items()}
    return Response(int(status_line.split()[1]), headers, payload[: int(headers["content-length"])])


@dataclass
class Agent:
    """A running agent: its ports, control token and the files it writes."""

    proc: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    token: str
    stderr_path: Path
    models_dir: Path
    _channels: list[grpc.Channel] = field(default_factory=list)

    def rest(self, timeout: float = 30.0) -> Rest:
        return Rest(self.http_port, timeout)

    def channel(self) -> grpc.Channel:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self._channels.append(channel)
        return channel

    def oip(self) -> oip_grpc.GRPCInferenceServiceStub:
        return oip_grpc.GRPCInferenceServiceStub(self.channel())

    def control(self) -> agent_pb2_grpc.AgentControlStub:
        return agent_pb2_grpc.AgentControlStub(self.channel())

    def metrics(self) -> agent_pb2_grpc.MetricsStub:
        return agent_pb2_grpc.MetricsStub(self.channel())

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")]

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """GET /metrics parsed as {(sample name, labels): value}."""
        resp = Rest(self.http_port, timeout=10).get("/metrics")
        assert resp.status == 200, resp.body
        assert resp.headers["content-type"].startswith("text/plain"), resp.headers
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(resp.body.decode())
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, lbls), v in self.scrape().items() if n == name and wanted <= lbls)

    def wait_in_flight(self, model: str, at_least: int, timeout: float = 15) -> None:
        """Poll the in-flight gauge of `model` until it reaches `at_least`."""
        deadline = time.monotonic() + timeout
        while self.metric("modelfleet_in_flight", model=model) < at_least:
            assert time.monotonic() < deadline, f"never {at_least} requests in flight on {model}"
            time.sleep(0.01)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        """The process runs and answers both transports."""
        if self.proc.poll() is not None:
            return False
        live = Rest(self.http_port, timeout=10).get("/v2/health/live")
        reply = self.oip().ServerLive(oip_pb2.ServerLiveRequest(), timeout=10)
        return live.status == 200 and live.json() == {"live": True} and reply.live

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        for channel in self._channels:
            channel.close()
        self._channels.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AgentFailed(
                f"agent ignored {sig.name} for {timeout}s:\n{self.stderr()}"
            ) from None


AgentFactory = Callable[..., Agent]


def start_agent(
    models_dir: Path,
    workdir: Path,
    *flags: str,
    token: str | None = "test-control-token",
    timeout: float = READY_TIMEOUT_S,
) -> Agent:
    """Run `modelfleet-agent serve` on ports 0 and wait for its ready file.

    With `token=None` the token file does not exist beforehand, so the agent generates it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ready_file = workdir / "ready.json"
    token_file = workdir / "control.token"
    ready_file.unlink(missing_ok=True)
    if token is not None:
        token_file.write_text(token)
        token_file.chmod(0o600)
    stderr_path = workdir / "agent.stderr"
    cmd = [
        str(AGENT_COMMAND),
        "serve",
        "--models", str(models_dir),
        "--host", "127.0.0.1",
        "--http-port", "0",
        "--grpc-port", "0",
        "--ready-file", str(ready_file),
        "--control-token-file", str(token_file),
        *flags,
    ]  # fmt: skip
    env = {**os.environ, "MODELFLEET_DATA_DIR": str(workdir / "data")}
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    deadline = time.monotonic() + timeout
    while True:
        if ready_file.exists():
            info = json.loads(ready_file.read_text())
            break
        if proc.poll() is not None:
            raise AgentFailed(
                f"agent exited with {proc.returncode} before ready: {' '.join(cmd)}\n"
                f"{stderr_path.read_text(errors='replace')}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AgentFailed(
                f"agent not ready after {timeout}s\n{stderr_path.read_text(errors='replace')}"
            )
        time.sleep(0.02)
    assert info["pid"] == proc.pid, info
    return Agent(
        proc=proc,
        http_port=int(info["http_port"]),
        grpc_port=int(info["grpc_port"]),
        token=token_file.read_text().strip(),
        stderr_path=stderr_path,
        models_dir=models_dir,
    )
