"""Client settings as one typed object, read from `MODELFLEET_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from modelfleet.client._errors import ConfigurationError

ENV_PREFIX = "MODELFLEET_"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What a client needs to reach a hub. Explicit arguments beat env vars beat the profile."""

    SCHEMA_VERSION = 1

    # HOST:PORT of the hub (MODELFLEET_HUB).
    hub: str | None = None
    # Path to the hub CA PEM, or its "sha256:<hex>" fingerprint (MODELFLEET_HUB_CA).
    hub_ca: str | None = None
    # An API key for scripts and CI; used instead of a signed-in user (MODELFLEET_API_KEY).
    api_key: str | None = None
    # Workspace name or id for workspace-scoped calls (MODELFLEET_WORKSPACE).
    workspace: str | None = None
    # Deadline of each call, seconds (MODELFLEET_TIMEOUT).
    timeout: float = 10.0
    # Attempts for idempotent reads that fail with UNAVAILABLE (MODELFLEET_RETRIES).
    retries: int = 4
    # Name the hub certificate is checked against when it differs from the address host.
    tls_server_name: str | None = None

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigurationError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.retries < 1:
            raise ConfigurationError(f"retries must be >= 1, got {self.retries}")

    def __repr__(self) -> str:  # the API key is a secret
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["api_key"]:
            shown["api_key"] = "***"
        return "ClientSettings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientSettings:
        """Settings from `MODELFLEET_*` variables; non-None `overrides` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_defaults(self, **defaults: Any) -> ClientSettings:
        """Fill fields still unset (None) from `defaults`, e.g. from the saved login profile."""
        missing = {k: v for k, v in defaults.items() if v is not None and getattr(self, k) is None}
        return replace(self, **missing)


def _parse(name: str, raw: str, annotation: object) -> Any:
    text = str(annotation)
    try:
        if text.startswith("float"):
            return float(raw)
        if text.startswith("int"):
            return int(raw)
    except ValueError:
        raise ConfigurationError(
            f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}"
        ) from None
    return raw.strip()
