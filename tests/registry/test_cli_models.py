"""`modelfleet push` and `modelfleet models ...` against a real hub, as a new user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelfleet.cli import main
from tests.cli.test_hub_e2e import Cli
from tests.conftest import RunningHub


def test_push_show_alias_download(
    running_hub: RunningHub,
    sample_onnx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = Cli(tmp_path / "me", capsys, monkeypatch)
    hub = ["--hub", running_hub.address, "--hub-ca", running_hub.ca_fingerprint]
    cli("login", *hub, "--user", "admin", "--password-stdin", stdin=running_hub.admin_password)
    features = [f"f{i:02d}" for i in range(20)]

    out = cli("push", str(sample_onnx), "--name", "credit-risk", "--feature-names", *features)
    assert "Registered credit-risk version 1" in out
    out = cli("push", str(sample_onnx), "--name", "credit-risk", "--alias", "staging")
    assert "Registered credit-risk version 2 (staging)" in out
    out = cli("models", "alias", "credit-risk", "champion", "1")
    assert "credit-risk@champion -> version 1" in out

    listing = cli("models", "list")
    assert "credit-risk" in listing and "champion=1,staging=2" in listing
    shown = cli("models", "show", "credit-risk@champion")
    assert "input     input  FP32  [-1, 20]" in shown and "features  f00, f01" in shown
    versions = json.loads(cli("models", "versions", "credit-risk", "--json"))
    assert [v["version"] for v in versions] == [2, 1]
    model = json.loads(cli("models", "show", "credit-risk", "--json"))
    assert model["aliases"] == {"champion": 1, "staging": 2}

    target = tmp_path / "downloaded.onnx"
    out = cli("models", "download", "credit-risk@staging", "-o", str(target))
    assert "version 2" in out and target.read_bytes() == sample_onnx.read_bytes()

    cli("models", "alias", "credit-risk", "staging", "--delete")
    assert "staging" not in cli("models", "list")

    # Refusals are one readable line and a non-zero exit.
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    cli("push", str(bad), "--name", "credit-risk", expect=1)
    assert "artifact_sha256" in cli.last_err and "Traceback" not in cli.last_err
    cli("models", "show", "nothing-here", expect=1)
    assert "model_name" in cli.last_err
    cli("models", "alias", "credit-risk", "champion", expect=2)
    assert main(["models", "download", "credit-risk", *hub]) == 2
