"""The client's exception tree, and the one place that maps `grpc.RpcError` onto it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

# Trailing metadata the hub attaches to refine a status (see the hub's error mapping).
FIELD_METADATA_KEY = "x-modelfleet-field"
RETRY_AFTER_METADATA_KEY = "retry-after"
# The hub words INVALID_ARGUMENT details as "<field>: expected <what>".
_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.\[\]]*): ")


class ModelfleetError(Exception):
    """Base of every error the client raises; `rpc` names the call when one failed."""

    def __init__(self, message: str, *, rpc: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rpc = rpc

    def __str__(self) -> str:
        if self.rpc and self.rpc not in self.message:
            return f"{self.message} ({self.rpc})"
        return self.message


class ConfigurationError(ModelfleetError):
    """Missing or malformed client settings (no hub address, unreadable CA file...)."""


class HubTrustError(ModelfleetError):
    """The hub's certificate could not be trusted (wrong pinned fingerprint, bad CA)."""


class AuthenticationError(ModelfleetError):
    """No valid credentials: signed out, expired or revoked token, wrong password."""


class PermissionDenied(ModelfleetError):
    """Signed in, but the caller's role does not allow this call."""


class NotFound(ModelfleetError):
    """The object does not exist in the target workspace (or is not visible to the caller)."""


class AlreadyExists(ModelfleetError):
    """An object with that name already exists."""


class InvalidArgument(ModelfleetError):
    """The hub rejected an input; `field` names it when the hub said which."""

    def __init__(self, message: str, *, field: str | None = None, rpc: str | None = None) -> None:
        super().__init__(message, rpc=rpc)
        self.field = field


class FailedPrecondition(ModelfleetError):
    """The object is not in a state that allows this call (e.g. an archived workspace)."""


class RateLimited(ModelfleetError):
    """Throttled by the hub; retry after `retry_after` seconds when it said how long."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, rpc: str | None = None
    ) -> None:
        super().__init__(message, rpc=rpc)
        self.retry_after = retry_after


class Unavailable(ModelfleetError):
    """The hub could not be reached (down, wrong address, TLS handshake failed)."""


class DeadlineExceeded(ModelfleetError):
    """The call did not finish within its deadline."""


class ServerError(ModelfleetError):
    """The hub failed internally; the message is the hub's public one."""


_SIMPLE: dict[grpc.StatusCode, type[ModelfleetError]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def error_from_rpc(exc: grpc.RpcError, rpc: str | None = None) -> ModelfleetError:
    """Translate one failed call into the matching `ModelfleetError`."""
    # Sync errors are `grpc.Call`s, grpc.aio's `AioRpcError` is not: read them alike.
    code: grpc.StatusCode | None = _ask(exc, "code")
    details: str = _ask(exc, "details") or str(exc)
    trailers = {k: v for k, v in _ask(exc, "trailing_metadata") or () if isinstance(v, str)}
    if code == grpc.StatusCode.INVALID_ARGUMENT or code == grpc.StatusCode.OUT_OF_RANGE:
        named = _FIELD_PREFIX.match(details)
        field = trailers.get(FIELD_METADATA_KEY) or (named.group(1) if named else None)
        return InvalidArgument(details, field=field, rpc=rpc)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimited(
            details, retry_after=_seconds(trailers.get(RETRY_AFTER_METADATA_KEY)), rpc=rpc
        )
    if code == grpc.StatusCode.CANCELLED:
        return ModelfleetError(f"cancelled: {details}", rpc=rpc)
    return (
        _SIMPLE.get(code, ServerError)(details, rpc=rpc) if code else ServerError(details, rpc=rpc)
    )


@contextmanager
def map_rpc_errors(rpc: str | None = None) -> Iterator[None]:
    """Re-raise any `grpc.RpcError` inside the block as a `ModelfleetError`."""
    try:
        yield
    except grpc.RpcError as exc:
        raise error_from_rpc(exc, rpc) from exc


def _ask(exc: grpc.RpcError, method: str) -> Any:
    getter = getattr(exc, method, None)
    return getter() if callable(getter) else None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
