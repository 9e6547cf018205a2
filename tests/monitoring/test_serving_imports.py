"""A serving agent loads no analysis library, at start or while it judges drift.

scipy alone costs a process some 80 MB and was once imported at start through the drift
statistics; these tests keep such imports lazy. They check what is loaded, not how much
memory that takes (benchmarks/serving.py --only startup measures the idle RSS).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.monitoring.monitored import WINDOW_ROWS, reference_rows
from tests.monitoring.traffic import send, wait_windows
from tests.serving.agentproc import Agent

# None of these is needed to serve without TLS or to judge drift with the default methods
# (Wasserstein, Jensen-Shannon, PSI): scipy only for KS, chi-square and the z-test,
# cryptography only for the hub's TLS files, the others for offline work or the hub.
HEAVY = ("scipy", "pandas", "sklearn", "sqlalchemy", "cryptography", "matplotlib", "PySide6")

# The modules `modelfleet-agent serve` imports before it is ready.
SERVE_CHAIN = (
    "modelfleet.agent.cli",
    "modelfleet.agent.node.config",
    "modelfleet.agent.node.access",
    "modelfleet.agent.node.run",
    "modelfleet.agent.node.server",
    "modelfleet.agent.node.monitor",
    "modelfleet.drift",
)

SCRIPT = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def _loaded_packages(agent: Agent) -> set[str]:
    """Top-level packages of every shared object mapped into the agent process.

    Each package in HEAVY loads compiled extensions when imported, so a package that is
    not mapped was not imported.
    """
    maps = Path(f"/proc/{agent.proc.pid}/maps").read_text()
    paths = {line.split()[-1] for line in maps.splitlines() if "site-packages/" in line}
    return {p.split("site-packages/", 1)[1].split("/", 1)[0] for p in paths}


def test_the_serve_module_chain_imports_no_heavy_library() -> None:
    # A fresh interpreter: the test process itself has scipy and friends loaded already.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *SERVE_CHAIN],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert set(SERVE_CHAIN) <= modules
    assert _heavy(modules) == []


def test_a_monitored_agent_stays_free_of_them_when_ready_and_after_judging_a_window(
    agent: Agent,
) -> None:
    assert _heavy(_loaded_packages(agent)) == []

    send(agent.rest(), reference_rows(WINDOW_ROWS, seed=5))
    drift = wait_windows(agent, 1).drift
    assert drift.enabled, drift.reason
    assert drift.windows_closed == 1
    methods = {f.method for f in drift.last_window.features if f.judged}
    assert methods == {"wasserstein", "jensenshannon"}, methods

    loaded = _loaded_packages(agent)
    assert {"numpy", "onnxruntime", "grpc"} <= loaded
    assert _heavy(loaded) == []
