"""The fleet CLI as a user runs it: `modelfleet agents|deploy|traffic|rollback|deployments`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from modelfleet.agent.hub import pki
from modelfleet.client import Role
from modelfleet.fleet import jointoken
from tests.conftest import modelfleet_command
from tests.fleet_hub.conftest import FleetHub, push_versions


def _cli(hub: FleetHub, key: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_")},
        "MODELFLEET_HUB": hub.address,
        "MODELFLEET_HUB_CA": pki.fingerprint(hub.ca_pem),
        "MODELFLEET_API_KEY": key,
        "MODELFLEET_WORKSPACE": "default",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    return subprocess.run(
        modelfleet_command(*args), capture_output=True, text=True, env=env, timeout=60
    )


def test_cli_enrols_deploys_splits_and_rolls_back(
    fleet_hub: FleetHub, sample_onnx: Path, tmp_path: Path
) -> None:
    hub = fleet_hub
    push_versions(hub, sample_onnx, "fraud-model", 2)
    with hub.client() as admin:
        key = admin.create_api_key("ci", Role.ADMIN).secret

    done = _cli(hub, key, tmp_path, "agents", "join-token", "--env", "production",
                "--labels", "region=eu", "--ttl", "30m")  # fmt: skip
    assert done.returncode == 0, done.stderr
    token = jointoken.decode(done.stdout.strip())  # the token alone on stdout
    assert token.ca_fingerprint == pki.fingerprint(hub.ca_pem)
    assert "single use" in done.stderr
    named = _cli(hub, key, tmp_path, "agents", "join-token", "--env", "production",
                 "--serving-name", "infer.example.test", "--serving-name", "10.0.0.7")  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert "serving names: infer.example.test,10.0.0.7" in named.stderr
    wild = _cli(hub, key, tmp_path, "agents", "join-token", "--env", "production",
                "--serving-name", "*.example.test")  # fmt: skip
    assert wild.returncode != 0 and "serving_names" in wild.stderr, wild.stderr
    agent = hub.enrol("production")
    listed = _cli(hub, key, tmp_path, "agents", "list", "--env", "production")
    assert agent.agent_id in listed.stdout

    steps = [
        ("deploy", "fraud-model:1", "--env", "production", "--name", "fraud", "--reason", "go"),
        ("traffic", "fraud", "v1=90", "v2=10", "--env", "production"),
        ("rollback", "fraud", "--env", "production", "--reason", "canary errors"),
    ]
    for step in steps:
        done = _cli(hub, key, tmp_path, *step)
        assert done.returncode == 0, done.stderr
    assert "v1=90% v2=10%" not in done.stdout and "v1=100%" in done.stdout
    events = _cli(hub, key, tmp_path, "deployments", "events", "fraud", "--env", "production")
    lines = events.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [
        ["1", "deploy"],
        ["2", "traffic"],
        ["3", "rollback"],
    ]
    assert "canary errors" in events.stdout

    bad = _cli(hub, key, tmp_path, "traffic", "fraud", "v1=90", "v2=5", "--env", "production")
    assert bad.returncode != 0
    assert "split: expected percents summing to 100 (got sum 95)" in bad.stderr
    revoked = _cli(hub, key, tmp_path, "agents", "revoke", agent.agent_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout


def test_cli_manages_inference_keys_and_monitoring(
    fleet_hub: FleetHub, sample_onnx: Path, tmp_path: Path
) -> None:
    hub = fleet_hub
    push_versions(hub, sample_onnx, "fraud-model", 1)
    with hub.client() as admin:
        key = admin.create_api_key("ci", Role.ADMIN).secret
    settings = tmp_path / "monitoring.json"
    settings.write_text('{"drift": {"window_rows": 500}}')
    done = _cli(hub, key, tmp_path, "deploy", "fraud-model:1", "--env", "staging",
                "--name", "fraud", "--monitoring", str(settings))  # fmt: skip
    assert done.returncode == 0, done.stderr

    created = _cli(hub, key, tmp_path, "deployments", "keys", "create", "fraud",
                   "--env", "staging", "--name", "checkout", "--rate", "50")  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.rsplit(": ", 1)[1].strip()
    assert secret.startswith("mfk_") and "checkout" in created.stdout
    listed = _cli(hub, key, tmp_path, "deployments", "keys", "list", "fraud", "--env", "staging")
    assert "checkout" in listed.stdout and secret not in listed.stdout
    key_id = secret.split("_")[1]
    gone = _cli(hub, key, tmp_path, "deployments", "keys", "revoke", "fraud", key_id,
                "--env", "staging")  # fmt: skip
    assert gone.returncode == 0 and key_id in gone.stdout, gone.stderr
    nothing = _cli(hub, key, tmp_path, "deployments", "keys", "revoke", "fraud", key_id,
                   "--env", "staging")  # fmt: skip
    assert nothing.returncode != 0 and "id: no inference key" in nothing.stderr

    reset = _cli(hub, key, tmp_path, "deployments", "monitoring", "fraud", "--env", "staging",
                 "--reset")  # fmt: skip
    assert reset.returncode == 0 and reset.stdout.strip() == "{}", reset.stderr
    settings.write_text('{"drift": {"window_rows": 0}}')
    bad = _cli(hub, key, tmp_path, "deployments", "monitoring", "fraud", "--env", "staging",
               "--file", str(settings))  # fmt: skip
    assert bad.returncode != 0 and "monitoring_json.drift" in bad.stderr, bad.stderr
    events = _cli(hub, key, tmp_path, "deployments", "events", "fraud", "--env", "staging")
    kinds = [line.split()[1] for line in events.stdout.splitlines()[1:]]
    assert kinds == ["deploy", "keys", "keys", "monitoring"]
