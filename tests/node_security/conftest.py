"""Fixtures: two sample models, an inference keys file made by the CLI, agents on port 0."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelfleet.agent.node.sample import write_sample_model
from tests.serving.agentproc import AGENT_COMMAND, Agent, start_agent

MODELS = ("credit-risk", "fraud")
Spawn = Callable[..., Agent]


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secure-models")
    for seed, name in enumerate(MODELS):
        write_sample_model(root, name, seed=seed)
    return root


def create_key(keys_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`modelfleet-agent keys create ... --file keys_file`."""
    return subprocess.run(
        [str(AGENT_COMMAND), "keys", "create", "--file", str(keys_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def spawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawn]:
    started: list[Agent] = []

    def run(models_dir: Path, *flags: str) -> Agent:
        agent = start_agent(models_dir, tmp_path_factory.mktemp("agent"), *flags)
        started.append(agent)
        return agent

    yield run
    codes = [agent.stop(signal.SIGTERM) for agent in started if agent.proc.poll() is None]
    assert all(code == 0 for code in codes), codes
