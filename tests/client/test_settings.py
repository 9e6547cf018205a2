"""Settings from MODELFLEET_* variables, overrides and the saved profile."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from modelfleet.client import (
    ClientSettings,
    ConfigurationError,
    Profile,
    load_profile,
    save_profile,
)


def test_env_vars_are_read_and_typed() -> None:
    env = {
        "MODELFLEET_HUB": "hub.example:7443",
        "MODELFLEET_HUB_CA": "sha256:" + "a" * 64,
        "MODELFLEET_API_KEY": "mfk_secret",
        "MODELFLEET_WORKSPACE": "ml",
        "MODELFLEET_TIMEOUT": "2.5",
        "MODELFLEET_RETRIES": "2",
    }
    settings = ClientSettings.from_env(env)
    assert (settings.hub, settings.workspace, settings.timeout, settings.retries) == (
        "hub.example:7443",
        "ml",
        2.5,
        2,
    )
    assert "mfk_secret" not in repr(settings)


def test_overrides_beat_env_and_defaults_fill_only_gaps() -> None:
    settings = ClientSettings.from_env(
        {"MODELFLEET_HUB": "a:1", "MODELFLEET_WORKSPACE": "ml"}, hub="b:2", workspace=None
    )
    assert (settings.hub, settings.workspace) == ("b:2", "ml")
    filled = settings.with_defaults(hub="c:3", hub_ca="/ca.pem", workspace="other")
    assert (filled.hub, filled.hub_ca, filled.workspace) == ("b:2", "/ca.pem", "ml")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODELFLEET_TIMEOUT": "soon"}, "MODELFLEET_TIMEOUT must be a number"),
        ({"MODELFLEET_TIMEOUT": "0"}, "timeout must be > 0"),
        ({"MODELFLEET_RETRIES": "0"}, "retries must be >= 1"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ClientSettings.from_env(env)


def test_profile_round_trip_is_private(private_data_dir: Path) -> None:
    assert load_profile() == Profile()
    path = save_profile(
        Profile(hub="h:1", hub_ca="sha256:" + "b" * 64, username="ada", workspace="ml")
    )
    assert path.parent == private_data_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_profile() == Profile(
        hub="h:1", hub_ca="sha256:" + "b" * 64, username="ada", workspace="ml"
    )


def test_corrupt_profile_says_log_in_again(private_data_dir: Path) -> None:
    private_data_dir.mkdir(parents=True)
    (private_data_dir / "client.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="log in again"):
        load_profile()
