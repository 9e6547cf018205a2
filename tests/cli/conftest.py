"""CLI tests run with their own user data dir and no MODELFLEET_* settings from outside."""

from tests.client.conftest import private_data_dir

__all__ = ["private_data_dir"]
