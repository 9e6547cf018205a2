"""modelfleet.v1.AgentControl and modelfleet.v1.Metrics servicers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from modelfleet._version import __version__
from modelfleet.agent.node.metrics import MetricsRegistry
from modelfleet.agent.node.models import ModelManager
from modelfleet.agent.node.monitor import Monitors, fill_snapshot
from modelfleet.agent.node.rpc.convert import (
    batching_from,
    model_metrics,
    model_status,
    timestamp_now,
)
from modelfleet.agent.node.rpc.errors import RpcErrors
from modelfleet.proto.v1 import agent_pb2 as pb
from modelfleet.proto.v1 import agent_pb2_grpc as pb_grpc

Context = Any  # grpc.aio.ServicerContext
_MIN_INTERVAL_MS, _MAX_INTERVAL_MS, _DEFAULT_INTERVAL_MS = 100, 60_000, 1000


class ControlServicer(pb_grpc.AgentControlServicer):
    """Hot load and unload of model versions."""

    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    async def LoadModel(self, request: pb.LoadModelRequest, context: Context) -> Any:
        async with RpcErrors(context, "AgentControl.LoadModel"):
            mv = await self._manager.load(
                request.name,
                request.version,
                Path(request.path) if request.path else None,
                batching_from(request.batching) if request.HasField("batching") else None,
            )
            return pb.LoadModelResponse(model=model_status(mv))

    async def UnloadModel(self, request: pb.UnloadModelRequest, context: Context) -> Any:
        async with RpcErrors(context, "AgentControl.UnloadModel"):
            unloaded = await self._manager.unload(request.name, request.version or None)
            return pb.UnloadModelResponse(unloaded=[model_status(mv) for mv in unloaded])

    async def ListModels(self, request: pb.ListModelsRequest, context: Context) -> Any:
        return pb.ListModelsResponse(models=[model_status(mv) for mv in self._manager.statuses()])


class MetricsServicer(pb_grpc.MetricsServicer):
    """Streams MetricsSnapshot messages until the client cancels or the agent stops."""

    def __init__(
        self, metrics: MetricsRegistry, stopping: asyncio.Event, monitors: Monitors | None = None
    ) -> None:
        self._metrics = metrics
        self._stopping = stopping
        self._monitors = monitors

    async def WatchMetrics(self, request: pb.WatchMetricsRequest, context: Context) -> Any:
        interval_ms = request.interval_ms or _DEFAULT_INTERVAL_MS
        interval = min(max(interval_ms, _MIN_INTERVAL_MS), _MAX_INTERVAL_MS) / 1000
        wanted = set(request.models)
        previous: dict[tuple[str, str], list[int]] = {}
        last: float | None = None  # the first snapshot has no earlier one to rate against
        while not self._stopping.is_set():
            now = time.perf_counter()
            snapshot = pb.MetricsSnapshot(time=timestamp_now(), agent_version=__version__)
            for (name, version), stats in sorted(self._metrics.models.items()):
                if wanted and name not in wanted:
                    continue
                before = previous.get((name, version), [0] * len(stats.total.counts))
                elapsed = now - last if last is not None else 0.0
                snapshot.models.append(model_metrics(name, version, stats, before, elapsed))
                if self._monitors is not None:
                    fill_snapshot(self._monitors, snapshot.models[-1])
                previous[(name, version)] = list(stats.total.counts)
            last = now
            yield snapshot
            try:
                await asyncio.wait_for(self._stopping.wait(), interval)
            except TimeoutError:
                continue
