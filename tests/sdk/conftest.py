"""SDK tests: a real hub subprocess (TLS, both databases) and an API key in a workspace."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from modelfleet.client import ClientSettings, HubClient, Role
from tests.conftest import HUB_START_TIMEOUT, RunningHub, modelfleet_command

WORKSPACE = "ml"


@dataclass
class SdkHub:
    hub: RunningHub
    admin: HubClient
    api_key: str
    tmp: Path
    restarted: subprocess.Popen[bytes] | None = None

    def connect_args(self) -> dict[str, str]:
        return {
            "hub": self.hub.address,
            "api_key": self.api_key,
            "workspace": WORKSPACE,
            "hub_ca": str(self.hub.ca_pem),
        }

    def stop(self) -> None:
        """SIGTERM the hub serving now and wait until it has exited."""
        if self.restarted is not None:
            self.restarted.send_signal(signal.SIGTERM)
            self.restarted.wait(30)
            return
        os.kill(self.hub.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # The fixture's process is a child of this one: reap it to see it gone.
            if os.waitpid(self.hub.pid, os.WNOHANG)[0] == self.hub.pid:
                return
            time.sleep(0.05)
        raise TimeoutError("hub did not stop")

    def start_again(self) -> None:
        """`hub serve` on the same data directory and port."""
        ready = self.tmp / "hub-ready-again.json"
        ready.unlink(missing_ok=True)
        self.restarted = subprocess.Popen(
            modelfleet_command(
                "hub", "serve", "--data-dir", str(self.hub.data_dir),
                "--port", str(self.hub.port), "--ready-file", str(ready),
            ),
            stdout=(self.tmp / "hub-again.log").open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + HUB_START_TIMEOUT
        while not ready.exists():
            assert self.restarted.poll() is None, (self.tmp / "hub-again.log").read_text()
            assert time.monotonic() < deadline, "hub did not come back"
            time.sleep(0.05)
        assert orjson.loads(ready.read_bytes())["port"] == self.hub.port


@pytest.fixture
def sdk_hub(running_hub: RunningHub, tmp_path: Path) -> Iterator[SdkHub]:
    settings = ClientSettings(hub=running_hub.address, hub_ca=str(running_hub.ca_pem))
    admin = HubClient.connect(settings)
    admin.login(running_hub.admin_username, running_hub.admin_password)
    admin.create_workspace(WORKSPACE)
    key = admin.create_api_key("sdk", Role.DEVELOPER, workspace=WORKSPACE)
    handle = SdkHub(running_hub, admin, key.secret, tmp_path)
    try:
        yield handle
    finally:
        admin.close()
        if handle.restarted is not None and handle.restarted.poll() is None:
            handle.restarted.send_signal(signal.SIGTERM)
            handle.restarted.wait(30)
