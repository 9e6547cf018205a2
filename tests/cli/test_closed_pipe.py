"""Output into a pipe whose reader went away (`| head -1`) ends quietly with status 141."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from modelfleet.cli._common import EXIT_CLOSED_PIPE


def _command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())", *args]


def test_a_long_table_into_head_exits_quietly(tmp_path: Path) -> None:
    # Far more than a pipe holds (64 KiB), written line by line: `head` leaves mid-way.
    names = [f"feature_{i:04d}_" + "x" * 200 for i in range(600)]
    frame = pd.DataFrame(np.random.default_rng(3).normal(size=(20, 600)), columns=names)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    wide = str(tmp_path / "wide.csv")
    report = _command("modelfleet.cli", "drift", "report", "--reference", wide, "--current", wide)
    script = f'{shlex.join(report)} 2>"$1" | head -1; echo "${{PIPESTATUS[0]}}"'
    err = tmp_path / "stderr"
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(err)], capture_output=True, text=True, timeout=120
    )
    header, status = result.stdout.splitlines()
    assert header.split() == ["FEATURE", "METHOD", "STATISTIC", "THRESHOLD", "DRIFTED"]
    assert int(status) == EXIT_CLOSED_PIPE == 141
    assert err.read_text() == ""


def test_the_agent_cli_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the agent writes a byte
    keys = str(tmp_path / "keys.json")
    create = _command("modelfleet.agent.cli", "keys", "create", "--models", "m", "--file", keys)
    try:
        result = subprocess.run(
            create,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == EXIT_CLOSED_PIPE
    assert result.stderr.startswith("created inference key ")
    assert "Error" not in result.stderr and "Exception" not in result.stderr
