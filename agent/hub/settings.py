"""Hub settings: one typed object, overridable with `MODELFLEET_HUB_*` environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "MODELFLEET_HUB_"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Durations in seconds. Defaults suit a team install; tests shorten some of them."""

    access_token_ttl: float = 600.0
    refresh_token_ttl: float = 14 * 86400.0
    # How long an API key or a workspace name stays cached in one replica.
    api_key_cache_ttl: float = 10.0
    workspace_cache_ttl: float = 5.0
    membership_cache_ttl: float = 5.0
    # Login back-off: free attempts, then base * 2**(n - free) seconds, capped.
    throttle_free_attempts: int = 3
    throttle_base_delay: float = 1.0
    throttle_max_delay: float = 900.0
    throttle_forget_after: float = 3600.0
    # argon2id cost; the hash records its parameters, so changing them keeps old hashes valid.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Writes to api_keys.last_used_at at most this often per key.
    api_key_last_used_interval: float = 60.0
    rpc_workers: int = 8

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX}{f.name.upper()}: expected a number, got {raw!r}"
                ) from None
        return cls(**values)  # type: ignore[arg-type]
