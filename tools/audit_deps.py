"""Audit the installed dependencies with pip-audit (PyPI vulnerability service).

Fails (exit 1) on any vulnerability not allow-listed with a reason in
tools/audit-allowlist.toml, and (exit 2) when pip-audit could not audit the environment:
a dependency it could not look up is not a pass.

Usage: python tools/audit_deps.py [--allowlist FILE] [--report FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ALLOWLIST = HERE / "audit-allowlist.toml"
SERVICE = "pypi"


@dataclass
class Verdict:
    findings: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    audited: int = 0

    @property
    def exit_code(self) -> int:
        if self.unaudited:
            return 2
        return 1 if self.findings else 0


def load_allowlist(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(vulnerability id -> reason, package -> reason why it cannot be audited)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    ignore: dict[str, str] = {}
    unaudited: dict[str, str] = {}
    for section, target, key in (("ignore", ignore, "id"), ("unaudited", unaudited, "package")):
        for entry in data.get(section, []):
            reason = str(entry.get("reason", "")).strip()
            if not entry.get(key) or not reason:
                raise ValueError(f"{path.name}: every [[{section}]] needs '{key}' and a 'reason'")
            target[str(entry[key]).lower()] = reason
    return ignore, unaudited


def judge(report: dict[str, Any], ignore: dict[str, str], unaudited: dict[str, str]) -> Verdict:
    """Sort pip-audit's JSON report into findings, allowed findings and unaudited packages."""
    verdict = Verdict()
    used: set[str] = set()
    for dep in report.get("dependencies", []):
        name, version = dep["name"], dep.get("version", "?")
        skip = dep.get("skip_reason")
        if skip is not None:
            if "editable" in skip:
                continue  # this project itself, installed from the working tree
            if name.lower() in unaudited:
                used.add(name.lower())
                continue
            verdict.unaudited.append(f"{name}: {skip}")
            continue
        verdict.audited += 1
        for vuln in dep.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            fixed = vuln.get("fix_versions") or "?"
            line = f"{name} {version}: {', '.join(ids)} (fixed in {fixed})"
            match = next((i for i in ids if i.lower() in ignore), None)
            if match is None:
                verdict.findings.append(line)
            else:
                used.add(match.lower())
                verdict.allowed.append(f"{line} -- allowed: {ignore[match.lower()]}")
    verdict.stale = sorted((set(ignore) | set(unaudited)) - used)
    return verdict


def run_pip_audit() -> dict[str, Any]:
    command = [
        sys.executable, "-m", "pip_audit", "--vulnerability-service", SERVICE,
        "--format", "json", "--progress-spinner", "off",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(done.stderr)
        raise SystemExit(
            f"audit-deps: pip-audit failed (exit {done.returncode}) without a report; "
            f"is the {SERVICE} vulnerability service reachable?"
        ) from None
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    parser.add_argument("--report", type=Path, help="read a saved pip-audit JSON report")
    args = parser.parse_args(argv)
    ignore, unaudited = load_allowlist(args.allowlist)
    report = json.loads(args.report.read_text()) if args.report else run_pip_audit()
    verdict = judge(report, ignore, unaudited)
    for line in verdict.allowed:
        print(f"allowed   {line}")
    for line in verdict.findings:
        print(f"VULNERABLE {line}")
    for entry in verdict.stale:
        print(f"note: allow-list entry {entry!r} matched nothing; remove it once reviewed")
    if verdict.unaudited:
        print(
            f"audit-deps: FAILED -- {len(verdict.unaudited)} installed distribution(s) could not "
            f"be audited ({verdict.audited} were). The {SERVICE} vulnerability service did not "
            "answer for them (pip-audit reads https://pypi.org/pypi/NAME/VERSION/json); this is "
            "not a pass. First ones:"
        )
        for line in verdict.unaudited[:10]:
            print(f"  {line}")
    elif verdict.findings:
        print(f"audit-deps: FAILED -- {len(verdict.findings)} vulnerability finding(s)")
    else:
        print(f"audit-deps: ok -- {verdict.audited} distributions audited, no open findings")
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
