"""How each hub call is made: TLS channel, bearer credentials, workspace header, deadline,
retries for idempotent reads, and the access-token refresh when it has expired."""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc

from modelfleet.client._convert import token_pair_from_pb
from modelfleet.client._credentials import StoredTokens
from modelfleet.client._errors import (
    AuthenticationError,
    ConfigurationError,
    Unavailable,
    error_from_rpc,
)
from modelfleet.client._types import TokenPair
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

WORKSPACE_METADATA_KEY = "x-modelfleet-workspace"
# Refresh a little before expiry so a call never leaves with a token that dies in flight.
REFRESH_MARGIN = timedelta(seconds=30)

Resp = TypeVar("Resp")

# Keepalive: notice a dead hub within ~30 s on idle channels, without tripping the hub's
# ping-abuse guard (pings at most every 20 s, and only with calls in flight).
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
)


def open_channel(address: str, root_pem: bytes, tls_server_name: str | None = None) -> grpc.Channel:
    """A TLS channel to the hub that trusts only `root_pem`."""
    options = list(CHANNEL_OPTIONS)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=root_pem)
    return grpc.secure_channel(address, credentials, options=options)


class Scope(enum.Enum):
    """Whether a call names a workspace in its metadata."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


def backoff_delays(attempts: int, base: float = 0.1, cap: float = 2.0) -> Iterator[float]:
    """Full-jitter exponential delays between `attempts` tries (attempts - 1 of them)."""
    for attempt in range(attempts - 1):
        yield random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto


class Caller:
    """Makes calls on one channel with one identity; thread-safe."""

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        api_key: str | None = None,
        tokens: StoredTokens | None = None,
        workspace: str | None = None,
        timeout: float = 10.0,
        retries: int = 4,
        on_tokens: Callable[[TokenPair], None] | None = None,
    ) -> None:
        if api_key and tokens:
            raise ConfigurationError("use either an API key or a signed-in user, not both")
        self.channel = channel
        self.workspace = workspace
        self.timeout = timeout
        self.retries = retries
        self._api_key = api_key
        self._tokens = tokens
        self._on_tokens = on_tokens
        self._lock = threading.Lock()
        # Starting a call and closing the channel exclude each other: a call started on a
        # closed channel is a clean Unavailable, never a call on a torn-down channel.
        self._open_lock = threading.Lock()
        self._closed = False
        self._margin = REFRESH_MARGIN
        self._auth = auth_pb2_grpc.AuthStub(channel)

    # --- identity ---------------------------------------------------------------------

    def adopt(self, pair: TokenPair) -> None:
        """Use a fresh token pair from now on (after Login or Refresh) and report it."""
        with self._lock:
            self._tokens = StoredTokens(
                pair.refresh_token, pair.access_token, pair.access_expires_at
            )
            self._api_key = None
        if self._on_tokens is not None:
            self._on_tokens(pair)

    def forget(self) -> str | None:
        """Drop the tokens (after Logout); return the refresh token that was held."""
        with self._lock:
            held, self._tokens = self._tokens, None
        return held.refresh_token if held else None

    @property
    def refresh_token(self) -> str | None:
        return self._tokens.refresh_token if self._tokens else None

    def refresh(self) -> TokenPair:
        """Trade the refresh token for a new pair (the hub rotates it)."""
        refresh_token = self.refresh_token
        if not refresh_token:
            raise AuthenticationError("not signed in: log in first (or set an API key)")
        try:
            msg = self._auth.Refresh(
                auth_pb2.RefreshRequest(refresh_token=refresh_token), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            error = error_from_rpc(exc, "Auth.Refresh")
            if isinstance(error, AuthenticationError):
                raise AuthenticationError(
                    "signed out: the saved sign-in expired or was revoked; log in again",
                    rpc="Auth.Refresh",
                ) from exc
            raise error from exc
        pair = token_pair_from_pb(msg)
        self.adopt(pair)
        return pair

    def _bearer(self, force_refresh: bool) -> str | None:
        if self._api_key:
            return self._api_key
        tokens = self._tokens
        if tokens is None:
            return None
        stale = (
            not tokens.access_token
            or tokens.access_expires_at is None
            or tokens.access_expires_at - self._margin <= datetime.now(UTC)
        )
        if force_refresh or stale:
            with self._lock:
                # Another thread may have refreshed while this one waited for the lock.
                current = self._tokens
                if current is not None and current.access_token != tokens.access_token:
                    return current.access_token
            return self.refresh().access_token
        return tokens.access_token

    # --- calls ------------------------------------------------------------------------

    def _metadata(
        self, scope: Scope, workspace: str | None, *, authenticated: bool, force_refresh: bool
    ) -> tuple[tuple[str, str | bytes], ...]:
        metadata: list[tuple[str, str | bytes]] = []
        if authenticated:
            bearer = self._bearer(force_refresh)
            if bearer is None:
                raise AuthenticationError("not signed in: log in first (or set an API key)")
            metadata.append(("authorization", f"Bearer {bearer}"))
        target = workspace or self.workspace
        if scope is Scope.REQUIRED and not target:
            raise ConfigurationError(
                "no workspace selected: name one (--workspace / MODELFLEET_WORKSPACE) "
                "or switch with `modelfleet workspaces use NAME`"
            )
        if scope is not Scope.NONE and target:
            metadata.append((WORKSPACE_METADATA_KEY, target))
        return tuple(metadata)

    def unary(
        self,
        rpc: str,
        method: grpc.UnaryUnaryMultiCallable[Any, Resp],
        request: Any,
        *,
        idempotent: bool,
        scope: Scope = Scope.NONE,
        workspace: str | None = None,
        authenticated: bool = True,
    ) -> Resp:
        """One unary call; see the module docstring for what is added around it."""
        delays = backoff_delays(self.retries if idempotent else 1)
        refreshed = False
        while True:
            metadata = self._metadata(
                scope, workspace, authenticated=authenticated, force_refresh=refreshed
            )
            with self._open_lock:
                self._check_open(rpc)
                call = method.future(request, timeout=self.timeout, metadata=metadata)
            try:
                return call.result()
            except grpc.RpcError as exc:
                error = error_from_rpc(exc, rpc)
                # An UNAUTHENTICATED call never ran, so even writes may go again once.
                if (
                    isinstance(error, AuthenticationError)
                    and not refreshed
                    and authenticated
                    and self._api_key is None
                    and self._tokens is not None
                ):
                    refreshed = True
                    continue
                delay = next(delays, None) if isinstance(error, Unavailable) else None
                if delay is None:
                    raise error from exc
                time.sleep(delay)

    def stream(
        self,
        rpc: str,
        method: grpc.UnaryStreamMultiCallable[Any, Resp],
        request: Any,
        *,
        scope: Scope = Scope.NONE,
        workspace: str | None = None,
    ) -> Iterator[Resp]:
        """A server stream; the deadline covers the whole stream (scaled by the caller)."""
        metadata = self._metadata(scope, workspace, authenticated=True, force_refresh=False)
        with self._open_lock:
            self._check_open(rpc)
            responses = method(request, timeout=self.timeout * 30, metadata=metadata)
        try:
            yield from responses
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, rpc) from exc

    def close(self) -> None:
        """Close the channel: calls in flight end as cancelled, new ones raise Unavailable."""
        with self._open_lock:
            self._closed = True
            self.channel.close()

    def _check_open(self, rpc: str) -> None:
        if self._closed:
            raise Unavailable(f"{rpc}: this client was closed", rpc=rpc)


__all__ = ["CHANNEL_OPTIONS", "Caller", "Scope", "open_channel"]
