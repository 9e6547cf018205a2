"""inference.GRPCInferenceService: OIP health, metadata and ModelInfer over gRPC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from modelfleet._version import __version__
from modelfleet.agent.node.errors import ServingError
from modelfleet.agent.node.inference import InferenceService
from modelfleet.agent.node.rest.handlers import EXTENSIONS, PLATFORM
from modelfleet.agent.node.rpc.errors import RpcErrors
from modelfleet.oip import decode_grpc_request, encode_grpc_response
from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb
from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc

Context = Any  # grpc.aio.ServicerContext; the stubs' generic form adds nothing here


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Serves the Open Inference Protocol; uses the same InferenceService as REST."""

    def __init__(self, service: InferenceService, is_ready: Callable[[], bool]) -> None:
        self._service = service
        self._manager = service.manager
        self._is_ready = is_ready

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> Any:
        return pb.ServerReadyResponse(ready=self._is_ready())

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Context) -> Any:
        return pb.ServerMetadataResponse(
            name="modelfleet", version=__version__, extensions=EXTENSIONS
        )

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> Any:
        async with RpcErrors(context, "Inference.ModelReady"):
            try:
                self._manager.resolve(request.name, request.version or None)
            except ServingError as exc:
                if exc.http_status == 404:
                    raise
                return pb.ModelReadyResponse(ready=False)
            return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Context) -> Any:
        async with RpcErrors(context, "Inference.ModelMetadata"):
            mv = self._manager.resolve(request.name, request.version or None)
            assert mv.model is not None  # resolved versions are loaded
            tensor = pb.ModelMetadataResponse.TensorMetadata
            signature = mv.model.signature
            return pb.ModelMetadataResponse(
                name=mv.name,
                versions=self._manager.versions_of(mv.name),
                platform=PLATFORM,
                inputs=[
                    tensor(name=s.name, datatype=s.datatype, shape=s.shape)
                    for s in signature.inputs
                ],
                outputs=[
                    tensor(name=s.name, datatype=s.datatype, shape=s.shape)
                    for s in signature.outputs
                ],
            )

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> Any:
        started = time.perf_counter()
        async with RpcErrors(context, "Inference.ModelInfer"):
            call = self._service.submit(
                request.model_name,
                request.model_version or None,
                lambda _: decode_grpc_request(request),
                started,
                _budget(context.time_remaining(), self._service.limits.request_timeout_s),
                partial(_metadata_value, context),
            )
            # Shielded: if gRPC cancels this handler at the client's deadline, the request
            # still ends through its own deadline timer and is counted as such.
            await asyncio.shield(call.future)
            mv, decoded = call.mv, call.request
            return encode_grpc_response(
                mv.name, mv.version, decoded.id, call.outputs(), raw=decoded.binary_all
            )


def _metadata_value(context: Context, name: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else None
    return None


def _budget(remaining: float | None, limit: float) -> float:
    """The request deadline: the agent's limit, or the client's deadline if sooner."""
    return limit if remaining is None else max(0.0, min(limit, remaining))
