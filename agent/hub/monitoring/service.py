"""Monitoring servicer: QueryMetrics over stored roll-ups, QueryDrift over drift windows."""

from __future__ import annotations

from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.errors import Context
from modelfleet.agent.hub.monitoring import drift, rollups
from modelfleet.agent.hub.services.convert import from_timestamp, timestamp
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import drift_pb2, monitoring_pb2, monitoring_pb2_grpc


class MonitoringServicer(monitoring_pb2_grpc.MonitoringServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def QueryMetrics(
        self, request: monitoring_pb2.QueryMetricsRequest, context: Context
    ) -> monitoring_pb2.QueryMetricsResponse:
        call = current_call()
        q = rollups.make_query(
            call.ws.id,
            request.environment,
            request.deployment,
            from_timestamp(request.since) if request.HasField("since") else None,
            from_timestamp(request.until) if request.HasField("until") else None,
            request.step_seconds,
            request.model_version,
        )
        found = await self._hub.db.read(lambda s: rollups.query(s, q))
        points = []
        for start, version, b in found:
            points.append(
                monitoring_pb2.MetricsPoint(
                    time=timestamp(start),
                    model_version=version,
                    requests=b.requests,
                    errors=b.errors,
                    latency_p50=b.p50 / b.weight,
                    latency_p95=b.p95 / b.weight,
                    latency_p99=b.p99 / b.weight,
                    extra={k: v[0] / v[1] for k, v in b.extra.items()},
                )
            )
        return monitoring_pb2.QueryMetricsResponse(points=points)

    async def QueryDrift(
        self, request: monitoring_pb2.QueryDriftRequest, context: Context
    ) -> monitoring_pb2.QueryDriftResponse:
        call = current_call()
        q = drift.make_query(
            call.ws.id,
            request.environment,
            request.deployment,
            from_timestamp(request.since) if request.HasField("since") else None,
            from_timestamp(request.until) if request.HasField("until") else None,
            request.model_version,
            request.limit,
            request.drifted_only,
        )
        found = await self._hub.db.read(lambda s: drift.query(s, q))
        return monitoring_pb2.QueryDriftResponse(
            windows=[
                monitoring_pb2.DriftWindow(
                    agent_id=agent_id,
                    environment=environment,
                    report=drift_pb2.DriftReport.FromString(report),
                )
                for agent_id, environment, report in found
            ]
        )
