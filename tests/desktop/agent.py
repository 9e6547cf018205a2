"""A real `modelfleet-agent serve` over the bundled sample model, for the desktop tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelfleet.agent.node.sample import write_sample_model

AGENT_COMMAND = Path(sys.executable).with_name("modelfleet-agent")
READY_TIMEOUT_S = 60.0


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    token_file: Path
    stderr_path: Path

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def infer(self, rows: int = 4, bad: bool = False) -> int:
        """POST one OIP infer request (a malformed one when `bad`); the HTTP status."""
        data = np.random.default_rng(0).normal(size=(rows, 20)).astype(np.float32)
        shape = [rows, 19] if bad else [rows, 20]
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": shape,
                            "data": data.ravel()[: rows * shape[1]].tolist()}]}  # fmt: skip
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/v2/models/credit-risk/infer",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def sample_models(root: Path) -> Path:
    models = root / "models"
    write_sample_model(models)
    return models


def start_agent(models: Path, workdir: Path, token: str = "desktop-test-token") -> RunningAgent:
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "ready.json"
    token_file = workdir / "control.token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    stderr_path = workdir / "agent.stderr"
    cmd = [
        str(AGENT_COMMAND), "serve", "--models", str(models), "--host", "127.0.0.1",
        "--http-port", "0", "--grpc-port", "0", "--ready-file", str(ready),
        "--control-token-file", str(token_file),
    ]  # fmt: skip
    env = {**os.environ, "MODELFLEET_DATA_DIR": str(workdir / "data")}
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"agent did not start:\n{stderr_path.read_text()}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return RunningAgent(proc, info["http_port"], info["grpc_port"], token_file, stderr_path)
