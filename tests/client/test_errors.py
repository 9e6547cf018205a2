"""grpc status codes map once onto the client's exception tree."""

from __future__ import annotations

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from modelfleet.client import (
    AlreadyExists,
    AuthenticationError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ModelfleetError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unavailable,
)
from modelfleet.client._errors import error_from_rpc, map_rpc_errors


def rpc_error(
    code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, str], ...] = ()
) -> AioRpcError:
    # AioRpcError is grpc's own error class and has a public constructor; the sync error
    # type does not, and is exercised against real servers in the other client tests.
    return AioRpcError(code, Metadata(), Metadata(*trailers), details)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExists),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
        (grpc.StatusCode.UNAVAILABLE, Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceeded),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, RateLimited),
        (grpc.StatusCode.INTERNAL, ServerError),
        (grpc.StatusCode.UNKNOWN, ServerError),
    ],
)
def test_each_status_maps_to_its_exception(
    code: grpc.StatusCode, expected: type[ModelfleetError]
) -> None:
    error = error_from_rpc(rpc_error(code, "what went wrong"), "Workspaces.SetMember")
    assert type(error) is expected
    assert isinstance(error, ModelfleetError)
    assert str(error) == "what went wrong (Workspaces.SetMember)"


def test_invalid_argument_carries_the_field() -> None:
    error = error_from_rpc(
        rpc_error(
            grpc.StatusCode.INVALID_ARGUMENT, "name: too long", (("x-modelfleet-field", "name"),)
        )
    )
    assert isinstance(error, InvalidArgument) and error.field == "name"
    worded = error_from_rpc(
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "new_name: expected 1-64 characters")
    )
    assert worded.field == "new_name"  # type: ignore[attr-defined]
    assert error_from_rpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad input")).field is None  # type: ignore[attr-defined]


def test_rate_limited_carries_retry_after() -> None:
    error = error_from_rpc(
        rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", (("retry-after", "2.5"),))
    )
    assert isinstance(error, RateLimited) and error.retry_after == 2.5
    garbled = error_from_rpc(
        rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "x", (("retry-after", "soon"),))
    )
    assert garbled.retry_after is None  # type: ignore[attr-defined]


def test_map_rpc_errors_chains_the_original() -> None:
    original = rpc_error(grpc.StatusCode.NOT_FOUND, "no such workspace")
    with pytest.raises(NotFound) as caught, map_rpc_errors("Workspaces.GetWorkspace"):
        raise original
    assert caught.value.__cause__ is original
    assert caught.value.rpc == "Workspaces.GetWorkspace"
