"""The CLI against a real `modelfleet hub serve` process (default outbound policy): channels
with write-only secrets, rules, alerts, and a refused private destination."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_hub_e2e import Cli
from tests.conftest import RunningHub

SLACK_URL = "https://93.184.216.34/services/T0/B0/cli-slack-token-77"


@pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("private_data_dir")
def test_channels_and_rules_from_the_cli(
    running_hub: RunningHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = Cli(tmp_path / "admin", capsys, monkeypatch)
    cli("login", "--hub", running_hub.address, "--hub-ca", running_hub.ca_fingerprint,
        "--user", "admin", "--password-stdin", stdin=running_hub.admin_password + "\n")  # fmt: skip
    secret_file = tmp_path / "slack-url"
    secret_file.write_text(SLACK_URL + "\n")
    added = json.loads(cli("channels", "add", "ops", "slack", "--secret-file", str(secret_file),
                           "--json"))  # fmt: skip
    assert added["secret_set"] is True and added["target"] == "93.184.216.34"
    cli("channels", "add", "local", "webhook", "--url", "http://127.0.0.1:9/x",
        "--secret-stdin", stdin="a-signing-key-of-some-length\n", expect=1)  # fmt: skip
    assert "webhook.url: expected a public destination" in cli.last_err
    assert "loopback" in cli.last_err and "Traceback" not in cli.last_err
    # Plain SMTP is an explicit choice, and this hub lists no network it may go to.
    cli("channels", "add", "relay", "email", "--smtp-host", "8.8.8.8", "--security", "none",
        "--from", "alerts@example.com", "--to", "ops@example.com", expect=1)  # fmt: skip
    assert "email.security: expected STARTTLS or IMPLICIT_TLS" in cli.last_err
    assert "outbound_allowed_networks" in cli.last_err

    out = cli("alerts", "create-rule", "slow", "latency_p95", ">", "50", "--for", "5m",
              "--environment", "prod", "--deployment", "churn", "--channel", "ops",
              "--severity", "critical", "--json")  # fmt: skip
    rule = json.loads(out)
    assert rule["for_seconds"] == 300 and rule["resolve_threshold"] == 47.5
    assert rule["channels"] == ["ops"]
    assert "slow" in cli("alerts", "rules")
    assert json.loads(cli("alerts", "list", "--json")) == []
    with pytest.raises(SystemExit):
        cli("alerts", "create-rule", "bad", "latency_p95", ">", "50", "--for", "soon")
    assert "--for: expected a duration like 30s" in capsys.readouterr().err
    cli("alerts", "ack", "0" * 32, expect=1)
    assert "no alert" in cli.last_err

    listed = cli("channels", "list", "--json")
    assert "cli-slack-token-77" not in listed and json.loads(listed)[0]["secret_set"] is True
    hub_log = (running_hub.data_dir.parent / "hub.log").read_text()
    assert "cli-slack-token-77" not in hub_log and "[Alerts.CreateRule]" in hub_log
