"""Fleet fixtures: a restartable hub on SQLite or PostgreSQL with a workspace and two model
versions registered, and a factory for enrolled agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelfleet.agent.node.sample import write_sample_model
from tests.fleet.fleethelp import WORKSPACE, Admin, AgentProcess, HubProcess, join


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("sample-models")
    return {v: write_sample_model(root, "credit", v, seed=v) / "model.onnx" for v in (1, 2)}


@pytest.fixture
def hub(hub_db_url: str, tmp_path: Path, sample_models: dict[int, Path]) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, hub_db_url)
    process.start()
    try:
        admin = process.admin()
        admin.client.create_workspace(WORKSPACE)
        names = [f"f{i:02d}" for i in range(20)]
        for version in (1, 2):
            admin.client.push_model(sample_models[version], "credit", feature_names=names)
        admin.client.close()
        yield process
    finally:
        process.stop()


@pytest.fixture
def admin(hub: HubProcess) -> Iterator[Admin]:
    client = hub.admin()
    yield client
    client.client.close()


EnrolAgent = Callable[..., AgentProcess]


@pytest.fixture
def enrol_agent(hub: HubProcess, admin: Admin, tmp_path: Path) -> Iterator[EnrolAgent]:
    started: list[AgentProcess] = []

    def enrol(
        name: str, env: str, labels: dict[str, str] | None = None, **options: object
    ) -> AgentProcess:
        data_dir = tmp_path / name
        result = join(hub, admin.join_token(env, labels), data_dir)
        assert result.returncode == 0, result.stderr
        agent = AgentProcess(data_dir, **options)  # type: ignore[arg-type]
        started.append(agent)
        return agent

    yield enrol
    for agent in started:
        agent.stop()
