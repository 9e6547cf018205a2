"""The README's example scripts keep working: examples/notebook_quickstart.py registers
versions on a real hub, and examples/traffic.py, sent to a real enrolled agent, turns a
drift alert on that reaches examples/webhook_receiver.py; `drift report` on the CSVs it
saves names the features it shifted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelfleet.client import HubClient, Role
from tests.fleet.fleethelp import WORKSPACE, Admin, AgentProcess, HubProcess, join, wait_for

pytestmark = pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SHIFTED = {"monthly_charges", "support_calls"}  # what traffic.py moves


@pytest.fixture
def hub(hub_db_url: str, tmp_path: Path) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, hub_db_url)
    # As in the README: notifications may go to receivers on this machine.
    process.start(outbound_allowed_networks="127.0.0.1/32")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def admin(hub: HubProcess) -> Iterator[Admin]:
    client = hub.admin()
    client.client.create_workspace(WORKSPACE)
    yield client
    client.client.close()


def _example(script: str, *args: str, env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _settings_env(hub: HubProcess, client: HubClient, home: Path) -> dict[str, str]:
    """What the README's CI paragraph gives a job instead of a login."""
    key = client.create_api_key("examples", Role.DEVELOPER, workspace=WORKSPACE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")}
    env.update(
        HOME=str(home), MODELFLEET_DATA_DIR=str(home / "modelfleet"),
        MODELFLEET_HUB=hub.address, MODELFLEET_HUB_CA=hub.ca_fingerprint,
        MODELFLEET_API_KEY=key.secret, MODELFLEET_WORKSPACE=WORKSPACE,
    )  # fmt: skip
    return env


def _receiver(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int, Path]:
    ready, log = tmp_path / "receiver.port", tmp_path / "received.jsonl"
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--port", "0",
         "--ready-file", str(ready), "--log", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    wait_for(lambda: ready.exists() and ready.read_text().strip(), 30, "the webhook receiver")
    return process, int(ready.read_text()), log


def _ready(agent: AgentProcess, deployment: str) -> bool:
    url = f"http://127.0.0.1:{agent.http_port}/v2/models/{deployment}/ready"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:  # 404 before the deployment arrives, 503 while it loads
        return False


def test_notebook_then_shifted_traffic_fires_the_drift_alert(
    hub: HubProcess, admin: Admin, tmp_path: Path
) -> None:
    env = _settings_env(hub, admin.client, tmp_path / "home")

    # Notebook: two runs, two versions with lineage, signature and reference profile.
    first = _example("notebook_quickstart.py", env=env)
    assert "registered churn version 1" in first
    second = _example("notebook_quickstart.py", "--C", "0.05", "--alias", "candidate", env=env)
    assert "registered churn version 2" in second
    v1 = admin.client.get_version("churn", 1)
    assert v1.source_run_id and first.startswith(f"run {v1.source_run_id}:")
    assert v1.signature.feature_names == (
        "tenure_months", "monthly_charges", "support_calls", "age",
    )  # fmt: skip
    assert json.loads(v1.reference_profile_json)["features"]
    assert 0.7 < v1.metrics["test_accuracy"] <= 1.0 and v1.params == {"C": "1.0"}
    v2 = admin.client.get_version("churn", 2)
    assert v2.aliases == ("candidate",) and v2.params == {"C": "0.05"}
    assert v2.source_run_id not in ("", v1.source_run_id)

    # A staging agent serving version 1; a Slack-format channel to the local receiver.
    token = admin.join_token("staging")
    assert join(hub, token, tmp_path / "agent").returncode == 0
    agent = AgentProcess(tmp_path / "agent").start()
    receiver, port, received = _receiver(tmp_path, env)
    try:
        admin.deploy("churn", "staging", "churn", 1)
        wait_for(lambda: _ready(agent, "churn"), 60, "churn on the agent")
        admin.client.create_channel(
            "hook", "slack", secret=f"http://127.0.0.1:{port}/slack", workspace=WORKSPACE
        )
        admin.client.create_rule(
            "churn-drift", "drift_share", ">=", 0.5, workspace=WORKSPACE, window_seconds=10,
            for_seconds=2, environment="staging", deployment="churn", channels=["hook"],
        )  # fmt: skip

        out = _example(
            "traffic.py", "--agent", f"http://127.0.0.1:{agent.http_port}",
            "--deployment", "churn", "--calm-rows", "2000", "--shifted-seconds", "20",
            "--csv-dir", str(tmp_path / "csv"), env=env,
        )  # fmt: skip
        assert "sent 2000 reference-like rows" in out
        counts = json.loads(out.split("rows per model version:", 1)[1].splitlines()[0])
        assert set(counts) == {"1"} and counts["1"] > 2000

        def fired() -> list[dict[str, Any]]:
            lines = received.read_text().splitlines() if received.exists() else []
            records = [json.loads(line) for line in lines]
            return [r for r in records if "[FIRING] churn-drift" in r["body"]["text"]]

        (notification,) = wait_for(fired, 30, "the FIRING notification")
        assert notification["path"] == "/slack"
        (alert,) = admin.client.list_alerts(states=["firing"], workspace=WORKSPACE).items
        assert alert.labels == {"deployment": "churn", "environment": "staging"}
        assert alert.value >= 0.5
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        agent.stop()

    # The agent judged the reference-like windows calm and the shifted ones drifted.
    windows = admin.client.query_drift("churn", "staging")  # newest first
    assert not windows[-1].report.dataset_drifted and windows[0].report.dataset_drifted
    assert {f.name for f in windows[0].report.features if f.drifted} == SHIFTED

    # The offline report on the saved CSVs names the same features.
    report = subprocess.run(
        [sys.executable, "-c", "import sys; from modelfleet.cli import main; sys.exit(main())",
         "drift", "report", "--reference", str(tmp_path / "csv" / "reference.csv"),
         "--current", str(tmp_path / "csv" / "shifted.csv"), "--json", "--fail-on-drift"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert report.returncode == 3, report.stderr
    verdicts = json.loads(report.stdout)
    assert verdicts["dataset_drifted"] is True
    assert {f["name"] for f in verdicts["features"] if f["drifted"]} == SHIFTED
