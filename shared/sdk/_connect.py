"""`modelfleet.connect`: the hub client the SDK calls use, from arguments, MODELFLEET_*
variables or the CLI's saved login (in that order)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from modelfleet.client import (
    ClientSettings,
    ConfigurationError,
    CredentialStore,
    HubClient,
    StoredTokens,
    TokenPair,
    account_name,
    default_store,
    load_profile,
)

_lock = threading.Lock()
_client: HubClient | None = None


def _saver(store: CredentialStore, account: str) -> Callable[[TokenPair], None]:
    def save(pair: TokenPair) -> None:
        tokens = StoredTokens(pair.refresh_token, pair.access_token, pair.access_expires_at)
        store.save(account, tokens)

    return save


def connect(
    hub: str | None = None,
    api_key: str | None = None,
    workspace: str | None = None,
    *,
    hub_ca: str | None = None,
    timeout: float | None = None,
) -> HubClient:
    """Connect the SDK to a hub and make it the default for `start_run` and `log_model`.

    Anything not given comes from MODELFLEET_HUB / _API_KEY / _WORKSPACE / _HUB_CA /
    _TIMEOUT, then from the login saved by `modelfleet login` (same hub only).
    """
    global _client
    settings = ClientSettings.from_env(
        hub=hub, api_key=api_key, workspace=workspace, hub_ca=hub_ca, timeout=timeout
    )
    profile = load_profile()
    if settings.hub is None or settings.hub == profile.hub:
        settings = settings.with_defaults(
            hub=profile.hub, hub_ca=profile.hub_ca, workspace=profile.workspace
        )
    tokens = None
    on_tokens = None
    if settings.api_key is None:
        if not (profile.username and profile.hub and settings.hub == profile.hub):
            raise ConfigurationError(
                "no credentials: pass api_key=..., set MODELFLEET_API_KEY, "
                "or run `modelfleet login` for this hub"
            )
        store = default_store(announce=False)
        account = account_name(profile.hub, profile.username)
        tokens = store.load(account)
        if tokens is None:
            raise ConfigurationError("the saved login has no tokens: run `modelfleet login`")
        on_tokens = _saver(store, account)
    if not settings.workspace:
        raise ConfigurationError(
            "no workspace: pass workspace=..., set MODELFLEET_WORKSPACE, "
            "or choose one with `modelfleet workspaces use NAME`"
        )
    client = HubClient.connect(settings, tokens=tokens, on_tokens=on_tokens)
    with _lock:
        previous, _client = _client, client
    if previous is not None:
        previous.close()
    return client


def current_client() -> HubClient:
    """The connected client; connects from the environment or saved login on first use."""
    with _lock:
        client = _client
    return client if client is not None else connect()
