"""Translate domain errors into gRPC status codes once, at the servicer edge."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

import grpc

from modelfleet.agent.node.errors import ServingError, as_serving_error

log = logging.getLogger(__name__)


class RpcErrors:
    """`async with RpcErrors(context, "Service.Method"):` aborts with a mapped status."""

    __slots__ = ("_context", "_method")

    def __init__(self, context: grpc.aio.ServicerContext, method: str) -> None:  # type: ignore[type-arg]
        self._context = context
        self._method = method

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        if isinstance(exc, grpc.aio.AbortError | asyncio.CancelledError):
            return
        error = as_serving_error(exc)
        if type(error) is ServingError:
            log.error("[%s] unexpected error", self._method, exc_info=exc)
        await self._context.abort(error.grpc_code, str(error))
