"""A short run of every fuzz harness (fuzz/run.py): any crash or a harness that did not run
fails. Longer runs and their figures are in docs/security.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESSES = ["oip_decode", "rest_request", "onnx_signature", "safe_extract"]
SECONDS = 10


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seeds")
    subprocess.run([sys.executable, str(ROOT / "fuzz" / "make_seeds.py"), str(out)], check=True)
    return out


@pytest.mark.parametrize("harness", HARNESSES)
def test_harness_runs_without_crash(harness: str, seeds: Path, tmp_path: Path) -> None:
    command = [
        sys.executable, str(ROOT / "fuzz" / "run.py"), "--seconds", str(SECONDS),
        "--only", harness, "--seeds", str(seeds), "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    log = Path(result["log"]).read_text(errors="replace")[-3000:]
    assert result["crashes"] == 0, f"{result['findings']}\n{log}"
    assert result["exit_code"] == 0, log
    # Every seed alone runs more than once: a harness stuck at start-up would show 0 here.
    assert result["execs"] > 50, result
    assert result["coverage_edges"] > 50, result
