"""Domain errors of the serving node and their REST status / gRPC code."""

from __future__ import annotations

import grpc

from modelfleet.oip import TensorError


class ServingError(Exception):
    """An error whose message is safe to show the caller."""

    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL
    #: label used in the requests_total metric
    status = "internal"


class InvalidInput(ServingError):
    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    status = "invalid_argument"


class NotFound(ServingError):
    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    status = "not_found"


class MethodNotAllowed(ServingError):
    http_status = 405
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    status = "method_not_allowed"


class TooLarge(ServingError):
    http_status = 413
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    status = "too_large"


class Overloaded(ServingError):
    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    status = "overloaded"


class RateLimited(Overloaded):
    """An inference key used faster than its rate limit allows."""

    status = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unauthenticated(ServingError):
    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    status = "unauthenticated"


class PermissionDenied(ServingError):
    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    status = "permission_denied"


class MisdirectedRequest(ServingError):
    """The Host header names a host this agent does not answer for (DNS rebinding guard)."""

    http_status = 421
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    status = "misdirected"


class Unavailable(ServingError):
    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    status = "unavailable"


class DeadlineExceeded(ServingError):
    http_status = 504
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    status = "deadline_exceeded"


class ModelFailed(ServingError):
    """The model itself failed on valid-looking input (ORT runtime error)."""

    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    status = "model_error"


def as_serving_error(exc: BaseException) -> ServingError:
    """Map any exception to a ServingError; unexpected ones get a generic safe message."""
    if isinstance(exc, ServingError):
        return exc
    if isinstance(exc, TensorError):
        return InvalidInput(str(exc))
    return ServingError("internal error; the agent logged the details")
