"""Fixtures for the serving suite: one model repository per run, real agents per module."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentproc import SHARED_FLAGS, Agent, AgentFactory, start_agent
from modelzoo import write_zoo


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository holding every test model (read-only for the tests)."""
    return write_zoo(tmp_path_factory.mktemp("zoo") / "models")


def _factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentFactory]:
    started: list[Agent] = []

    def spawn(models_dir: Path, *flags: str, token: str | None = "test-control-token") -> Agent:
        agent = start_agent(models_dir, tmp_path_factory.mktemp("agent"), *flags, token=token)
        started.append(agent)
        return agent

    yield spawn
    failures = []
    for agent in started:
        if agent.proc.poll() is None:
            code = agent.stop(signal.SIGTERM)
            if code != 0:
                failures.append(f"agent exited {code} on SIGTERM:\n{agent.stderr()}")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def spawn_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentFactory]:
    """Start agents that live until the end of the module (stopped with SIGTERM, exit 0)."""
    yield from _factory(tmp_path_factory)


@pytest.fixture
def spawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentFactory]:
    """Start agents that live for one test."""
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="module")
def agent(zoo: Path, spawn_module: AgentFactory) -> Agent:
    """The module's shared agent over the whole zoo."""
    return spawn_module(zoo, *SHARED_FLAGS)
