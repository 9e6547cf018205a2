"""Run mypy over the package as it is imported (`modelfleet`, `modelfleet.agent`, ...).

The source folders are mapped to import names by setuptools (shared/ -> modelfleet,
agent/ -> modelfleet.agent, desktop/ -> modelfleet.desktop). mypy cannot follow that
mapping, so this lays out a link tree under .typecheck/ and checks it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".typecheck"


def build_tree() -> None:
    if TREE.exists():
        shutil.rmtree(TREE)
    package = TREE / "modelfleet"
    package.mkdir(parents=True)
    for entry in (ROOT / "shared").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "agent").symlink_to(ROOT / "agent")
    (package / "desktop").symlink_to(ROOT / "desktop")


def main() -> int:
    build_tree()
    env = {**os.environ, "MYPYPATH": str(TREE)}
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "-p",
        "modelfleet",
        *sys.argv[1:],
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
