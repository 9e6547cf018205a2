"""Server interceptor: the control token on modelfleet.v1 services, inference keys on models.

Every RPC passes here. Control and metrics need the agent's control token; inference calls
that name a model need a key when that model is protected (health and server metadata stay
open); Feedback takes either the control token or a key of its deployment.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from modelfleet.agent.node.access import InferenceAccess, retry_after_header
from modelfleet.agent.node.errors import RateLimited, ServingError

PROTECTED_PREFIX = "/modelfleet.v1."
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]
_DENIED = "missing or invalid control token (metadata 'authorization: Bearer <token>')"
_OIP = "/inference.GRPCInferenceService/"
#: methods that name a model, and the request field holding the name
MODEL_FIELDS = {
    _OIP + "ModelInfer": "model_name",
    _OIP + "ModelMetadata": "name",
    _OIP + "ModelReady": "name",
    "/modelfleet.v1.Feedback/SendFeedback": "deployment",
}


async def _deny_unary(request: Any, context: Context) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)


class AccessInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Checks `authorization: Bearer <token or key>` metadata before any servicer runs."""

    def __init__(self, token: str, access: InferenceAccess) -> None:
        self._expected = f"Bearer {token}".encode()
        self._access = access

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        # Unknown methods yield no handler; gRPC then answers UNIMPLEMENTED itself.
        if not handler:
            return handler
        method = handler_call_details.method
        field = MODEL_FIELDS.get(method)
        control = method.startswith(PROTECTED_PREFIX)
        # Nothing protected: open inference calls skip the metadata scan and keep their
        # handler unwrapped, so they cost no per-call work here.
        if not control and (field is None or not self._access.active):
            return handler
        authorization = _authorization(handler_call_details.invocation_metadata or ())
        if control and self._is_control(authorization):
            return handler
        if field is not None and self._access.active:
            return self._guarded(handler, field, authorization)
        method_handler = (
            grpc.unary_stream_rpc_method_handler
            if handler.response_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        return method_handler(
            _deny_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _is_control(self, authorization: bytes | None) -> bool:
        return authorization is not None and hmac.compare_digest(authorization, self._expected)

    def _guarded(self, handler: Handler, field: str, authorization: bytes | None) -> Handler:
        behaviour: Any = handler.unary_unary  # an aio servicer's coroutine function
        access = self._access

        async def guarded(request: Any, context: Context) -> Any:
            try:
                access.check(getattr(request, field), authorization)
            except ServingError as exc:
                if isinstance(exc, RateLimited):
                    seconds = retry_after_header(exc.retry_after_s).decode()
                    context.set_trailing_metadata((("retry-after", seconds),))
                await context.abort(exc.grpc_code, str(exc))
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _authorization(metadata: Any) -> bytes | None:
    for key, value in metadata:
        if key == "authorization":
            return value.encode() if isinstance(value, str) else bytes(value)
    return None
