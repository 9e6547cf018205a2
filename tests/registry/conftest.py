"""Registry and artifact tests: clients of a real hub process (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from modelfleet.agent.node.sample import write_sample_model
from modelfleet.client import ClientSettings, HubClient, Role
from tests.client.conftest import private_data_dir
from tests.conftest import RunningHub

__all__ = ["private_data_dir"]

REGISTRY_TABLES = (
    "workspace_artifacts",
    "artifact_uploads",
    "registered_models",
    "model_versions",
    "model_aliases",
    "model_tags",
    "registry_comments",
)
PASSWORD = "password-of-a-user"


def settings(hub: RunningHub, **changes: object) -> ClientSettings:
    base = ClientSettings(hub=hub.address, hub_ca=hub.ca_fingerprint, timeout=30)
    return replace(base, workspace="default", **changes)


def signed_in(hub: RunningHub, username: str, password: str, **changes: object) -> HubClient:
    client = HubClient.connect(settings(hub, **changes))
    client.login(username, password)
    return client


@pytest.fixture
def admin(running_hub: RunningHub) -> Iterator[HubClient]:
    with signed_in(running_hub, running_hub.admin_username, running_hub.admin_password) as c:
        yield c


def member(hub: RunningHub, admin: HubClient, username: str, role: Role) -> HubClient:
    """A new user with `role` in the default workspace, signed in."""
    admin.create_user(username, password=PASSWORD)
    admin.set_member(username, role)
    return signed_in(hub, username, PASSWORD)


@pytest.fixture(scope="session")
def sample_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real scikit-learn pipeline converted with skl2onnx: input FP32 [-1, 20]."""
    return write_sample_model(tmp_path_factory.mktemp("sample")) / "model.onnx"


@pytest.fixture
def db(running_hub: RunningHub) -> Iterator[Engine]:
    engine = create_engine(running_hub.db_url)
    yield engine
    engine.dispose()


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(select(func.count()).select_from(text(t))).scalar_one())
            for t in REGISTRY_TABLES
        }


def stored_blobs(hub: RunningHub) -> list[Path]:
    return sorted(p for p in (hub.data_dir / "blobs" / "blobs").glob("*/*") if p.is_file())


def open_uploads(hub: RunningHub) -> list[Path]:
    return sorted((hub.data_dir / "blobs" / "uploads").iterdir())
