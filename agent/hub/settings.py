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
    # Fleet: agent certificate lifetime, the mutual-TLS agent port (0 = OS-chosen), how
    # often in-memory heartbeats reach the database, and when a silent agent counts offline.
    agent_certificate_hours: float = 24.0
    agent_port: int = 0
    heartbeat_flush_interval: float = 10.0
    agent_offline_after: float = 30.0
    # Alerts: how often rules are evaluated; delivery attempts per notification with
    # exponential back-off (base doubling up to the cap); the deadline of each attempt.
    alert_eval_interval: float = 2.0
    alert_delivery_attempts: int = 8
    alert_retry_base: float = 2.0
    alert_retry_max: float = 300.0
    outbound_timeout: float = 10.0
    # Outbound notifications refuse loopback, private, link-local and multicast addresses
    # unless listed here (comma-separated CIDRs, e.g. "10.1.2.0/24,127.0.0.1/32").
    outbound_allowed_networks: str = ""
    # SSO: how long a provider's discovery document and signing keys stay cached (a token
    # signed with an unknown key forces at most one more key fetch per period), how long a
    # started sign-in waits for its browser step, and the clock leeway for ID tokens.
    sso_cache_ttl: float = 300.0
    sso_login_ttl: float = 600.0
    sso_clock_leeway: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = {"int": int, "str": str}.get(str(f.type), float)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX}{f.name.upper()}: expected a number, got {raw!r}"
                ) from None
        return cls(**values)  # type: ignore[arg-type]
