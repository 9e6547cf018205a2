"""Server interceptor: control and metrics services require the agent's bearer token."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

PROTECTED_PREFIX = "/modelfleet.v1."
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
_DENIED = "missing or invalid control token (metadata 'authorization: Bearer <token>')"


async def _deny_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)


class ControlTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Checks `authorization: Bearer <token>` on modelfleet.v1 services; inference stays open."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        # Unknown methods yield no handler; gRPC then answers UNIMPLEMENTED itself.
        if not handler or not handler_call_details.method.startswith(PROTECTED_PREFIX):
            return handler
        if self._authorized(handler_call_details.invocation_metadata or ()):
            return handler
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                _deny_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            _deny_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authorized(self, metadata: Any) -> bool:
        for key, value in metadata:
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else bytes(value)
                return hmac.compare_digest(given, self._expected)
        return False
