"""Every client test gets its own user data dir, so profiles and credentials never leak."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "userdata"
    monkeypatch.setenv("MODELFLEET_DATA_DIR", str(data_dir))
    for name in (
        "MODELFLEET_HUB",
        "MODELFLEET_HUB_CA",
        "MODELFLEET_API_KEY",
        "MODELFLEET_WORKSPACE",
    ):
        monkeypatch.delenv(name, raising=False)
    return data_dir
