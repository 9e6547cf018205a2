"""The saved login profile (hub address, how it is trusted, user, current workspace)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from modelfleet.client._errors import ConfigurationError
from modelfleet.paths import user_data_dir, write_private_file

PROFILE_SCHEMA_VERSION = 1


def profile_path() -> Path:
    return user_data_dir() / "client.json"


@dataclass(frozen=True, slots=True)
class Profile:
    hub: str | None = None
    # As the user gave it: a CA path or a "sha256:" pin (pins resolve through the CA cache).
    hub_ca: str | None = None
    username: str | None = None
    workspace: str | None = None

    def updated(self, **changes: Any) -> Profile:
        return replace(self, **changes)


def load_profile(path: Path | None = None) -> Profile:
    """The saved profile, or an empty one when none was saved yet."""
    target = path or profile_path()
    if not target.exists():
        return Profile()
    try:
        data = orjson.loads(target.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"login profile {target} is unreadable ({exc}); log in again"
        ) from exc
    if not isinstance(data, dict) or data.get("schema_version") != PROFILE_SCHEMA_VERSION:
        raise ConfigurationError(f"login profile {target} has an unknown format; log in again")
    known = Profile.__dataclass_fields__
    return Profile(**{k: v for k, v in data.items() if k in known and isinstance(v, str)})


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    target = path or profile_path()
    document = {"schema_version": PROFILE_SCHEMA_VERSION, **asdict(profile)}
    write_private_file(target, orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return target
