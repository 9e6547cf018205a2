"""Domain errors of the hub and their one translation to gRPC status codes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import grpc

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
else:
    Context = grpc.aio.ServicerContext


class HubError(Exception):
    """A failure whose message is safe to show the caller."""

    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(HubError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, expected: str, got: str | None = None) -> None:
        shown = f" (got {got})" if got is not None else ""
        super().__init__(f"{field}: expected {expected}{shown}")
        self.field = field


class NotFound(HubError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(HubError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(HubError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(HubError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(HubError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Throttled(HubError):
    """Too many failed sign-ins; `retry_after` seconds until the next attempt is heard."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"too many failed sign-in attempts; retry after {self.retry_after} s")


def status_of(exc: BaseException) -> grpc.StatusCode:
    return exc.code if isinstance(exc, HubError) else grpc.StatusCode.INTERNAL


@asynccontextmanager
async def map_errors(context: Context, method: str) -> AsyncIterator[None]:
    """Turn domain errors into their status code; anything else into a bare INTERNAL.

    Unexpected exceptions are logged with a reference the caller also sees, so an
    operator can find the traceback without the caller learning any internals.
    """
    try:
        yield
    except HubError as exc:
        if isinstance(exc, Throttled):
            context.set_trailing_metadata((("retry-after", str(exc.retry_after)),))
        await context.abort(exc.code, exc.message)
    except grpc.aio.AbortError:
        raise
    except Exception:
        reference = secrets.token_hex(6)
        log.exception("[%s] internal error, reference %s", method, reference)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (reference {reference})")
