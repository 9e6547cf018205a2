"""The issue's "done when", through the CLI against a real hub (SQLite and PostgreSQL):
log in, create a workspace, add a viewer, the viewer's write is refused and audited."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import pytest

from modelfleet.cli import main
from tests.conftest import RunningHub


class Cli:
    """Runs `modelfleet ...` in-process as one person (their own user data dir)."""

    def __init__(
        self, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.data_dir, self.capsys, self.monkeypatch = data_dir, capsys, monkeypatch

    def __call__(self, *argv: str, stdin: str | None = None, expect: int = 0) -> str:
        self.monkeypatch.setenv("MODELFLEET_DATA_DIR", str(self.data_dir))
        if stdin is not None:
            self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        assert code == expect, f"exit {code}: {err}"
        self.last_err = err
        return out


def test_viewer_write_is_refused_and_audited(
    running_hub: RunningHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = Cli(tmp_path / "admin", capsys, monkeypatch)
    hub = ["--hub", running_hub.address, "--hub-ca", running_hub.ca_fingerprint]
    out = admin(
        "login",
        *hub,
        "--user",
        "admin",
        "--password-stdin",
        stdin=running_hub.admin_password + "\n",
    )
    assert "Logged in" in out and "current workspace: default" in out
    assert "mode 0600" in admin.last_err  # no keyring here: the fallback says so
    creds = tmp_path / "admin" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert running_hub.admin_password not in creds.read_text()

    assert json.loads(admin("whoami", "--json"))["system_admin"] is True
    admin("workspaces", "create", "ml-team", "--description", "the ML team")
    assert "Current workspace: ml-team" in admin("workspaces", "use", "ml-team")
    created = json.loads(
        admin("users", "create", "bob", "--json", "--password-stdin", stdin="bob-secret-pw\n")
    )
    assert created["user"]["username"] == "bob" and created["one_time_password"] is None
    admin("workspaces", "add-member", "bob", "--role", "viewer")
    members = {
        m["username"]: m["role"] for m in json.loads(admin("workspaces", "members", "--json"))
    }
    assert members == {"admin": "admin", "bob": "viewer"}

    # Bob signs in from his own machine, trusting the hub by its CA file this time.
    bob = Cli(tmp_path / "bob", capsys, monkeypatch)
    bob("login", "--hub", running_hub.address, "--hub-ca", str(running_hub.ca_pem), "--user", "bob",
        "--password-stdin", stdin="bob-secret-pw\n")  # fmt: skip
    assert "ml-team" in bob("workspaces", "list")
    bob("workspaces", "rename", "bobs-team", "--workspace", "ml-team", expect=1)
    assert bob.last_err.startswith("modelfleet: error: ") and "ADMIN" in bob.last_err
    assert "Traceback" not in bob.last_err
    bob("audit", "query", "--workspace", "ml-team", expect=1)  # reading the log is for admins

    denied = json.loads(admin("audit", "query", "--outcome", "denied", "--json"))
    actions = [(e["actor_name"], e["action"], e["outcome"]) for e in denied]
    assert ("bob", "Workspaces.RenameWorkspace", "denied") in actions
    assert "Workspaces.RenameWorkspace" in admin(
        "audit", "query", "--actor", "bob"
    )  # the table too

    exported = tmp_path / "audit.csv"
    admin("audit", "export", "--format", "csv", "--hub-wide", "--output", str(exported))
    rows = list(csv.DictReader(exported.open()))
    assert any(r["actor_name"] == "bob" and r["outcome"] == "denied" for r in rows)
    assert "intact" in admin("audit", "verify")

    assert "Logged out" in bob("logout")
    bob("whoami", expect=1)
    assert "not logged in" in bob.last_err
