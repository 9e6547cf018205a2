"""Monitoring fixtures: one standalone agent serving a model that carries a reference profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.monitoring.monitored import write_monitored_model
from tests.serving.agentproc import Agent, start_agent


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("monitored")
    models = write_monitored_model(root / "models")
    process = start_agent(models, root / "agent", "--max-batch-size", "64", "--log-level", "info")
    try:
        yield process
    finally:
        process.stop()
