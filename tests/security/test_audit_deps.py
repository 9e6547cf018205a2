"""tools/audit_deps.py: how pip-audit's report is judged against the reviewed allow-list.

These feed saved pip-audit reports (its JSON format) to the tool; the live audit runs in
`make audit-deps`, which needs the PyPI vulnerability service.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "audit_deps.py"
VULN = {"id": "GHSA-aaaa-bbbb-cccc", "aliases": ["PYSEC-2026-1"], "fix_versions": ["2.0"]}


def _run(tmp_path: Path, dependencies: list[dict[str, object]], allowlist: str) -> tuple[int, str]:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
    allow = tmp_path / "allow.toml"
    allow.write_text(allowlist)
    done = subprocess.run(
        [sys.executable, str(TOOL), "--report", str(report), "--allowlist", str(allow)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


CLEAN = {"name": "numpy", "version": "2.4.6", "vulns": []}
OURS = {"name": "modelfleet", "skip_reason": "distribution marked as editable"}


def test_clean_report_passes(tmp_path: Path) -> None:
    code, out = _run(tmp_path, [CLEAN, OURS], "ignore = []\n")
    assert code == 0, out
    assert "1 distributions audited" in out


def test_unlisted_vulnerability_fails(tmp_path: Path) -> None:
    code, out = _run(tmp_path, [CLEAN, {"name": "x", "version": "1.0", "vulns": [VULN]}], "")
    assert code == 1
    assert "VULNERABLE x 1.0: GHSA-aaaa-bbbb-cccc, PYSEC-2026-1" in out


def test_vulnerability_allowed_by_alias_with_reason_passes(tmp_path: Path) -> None:
    allow = '[[ignore]]\nid = "PYSEC-2026-1"\nreason = "not reachable from modelfleet"\n'
    code, out = _run(tmp_path, [{"name": "x", "version": "1.0", "vulns": [VULN]}], allow)
    assert code == 0, out
    assert "allowed: not reachable from modelfleet" in out


def test_allow_list_entry_without_reason_is_an_error(tmp_path: Path) -> None:
    code, out = _run(tmp_path, [CLEAN], '[[ignore]]\nid = "PYSEC-2026-1"\n')
    assert code != 0
    assert "needs 'id' and a 'reason'" in out


def test_stale_allow_list_entry_is_reported(tmp_path: Path) -> None:
    code, out = _run(tmp_path, [CLEAN], '[[ignore]]\nid = "GHSA-old"\nreason = "was needed"\n')
    assert code == 0
    assert "'ghsa-old' matched nothing" in out


@pytest.mark.parametrize("allowed", [False, True])
def test_dependency_the_service_could_not_answer_for_fails(tmp_path: Path, allowed: bool) -> None:
    # pip-audit itself says "No known vulnerabilities found" and exits 0 in this case.
    lost = {"name": "torch", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    allow = '[[unaudited]]\npackage = "torch"\nreason = "local +cpu build"\n' if allowed else ""
    code, out = _run(tmp_path, [CLEAN, lost], allow)
    if allowed:
        assert code == 0, out
    else:
        assert code == 2
        assert "could not be audited" in out and "not a pass" in out
