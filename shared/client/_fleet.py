"""Fleet, deployment and monitoring dataclasses, and their conversion from the hub's messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from modelfleet.client._convert import time_from_pb
from modelfleet.proto.v1 import deployments_pb2, fleet_pb2, monitoring_pb2


@dataclass(frozen=True, slots=True)
class JoinToken:
    """A single-use enrolment token; `token` is the secret text an agent joins with."""

    token: str
    token_id: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    environment: str
    labels: dict[str, str]
    hostname: str
    agent_version: str
    # "online", "offline" or "revoked".
    state: str
    last_seen: datetime | None
    certificate_expires_at: datetime | None
    enrolled_at: datetime | None
    http_url: str = ""
    grpc_target: str = ""
    health: str = ""
    loaded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    model_name: str
    model_version: int
    percent: int
    artifact_sha256: str = ""


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent_id: str
    hostname: str
    revision: int
    state: str
    reason: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    name: str
    environment: str
    selector: str
    revision: int
    targets: tuple[Target, ...]
    sticky_key: str
    state: str
    updated_by: str
    updated_at: datetime | None
    agents: tuple[AgentStatus, ...] = ()
    #: drift/prediction/score settings the agents monitor with ({} = the defaults)
    monitoring: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    revision: int
    kind: str
    actor: str
    reason: str
    time: datetime | None
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class InferenceKeyInfo:
    """An inference key of a deployment as people see it (never its secret)."""

    id: str
    name: str
    rate_per_s: float
    burst: int
    created_by: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class MetricsPoint:
    time: datetime | None
    model_version: int
    requests: int
    errors: int
    latency_p50: float
    latency_p95: float
    latency_p99: float
    extra: dict[str, float] = field(default_factory=dict)


def agent_from_pb(m: fleet_pb2.AgentInfo) -> Agent:
    beat = m.last_heartbeat
    return Agent(
        id=m.id,
        environment=m.environment,
        labels=dict(m.labels),
        hostname=m.hostname,
        agent_version=m.agent_version,
        state=m.state,
        last_seen=time_from_pb(m.last_seen),
        certificate_expires_at=time_from_pb(m.certificate_expires_at),
        enrolled_at=time_from_pb(m.enrolled_at),
        http_url=m.http_url,
        grpc_target=m.grpc_target,
        health=beat.health,
        loaded=tuple(f"{v.deployment}:v{v.model_version}={v.state}" for v in beat.loaded),
    )


def _targets(items: object) -> tuple[Target, ...]:
    return tuple(
        Target(t.model_name, t.model_version, t.percent, t.artifact_sha256)
        for t in items  # type: ignore[attr-defined]
    )


def deployment_from_pb(m: deployments_pb2.Deployment) -> Deployment:
    return Deployment(
        id=m.id,
        name=m.name,
        environment=m.environment,
        selector=m.selector,
        revision=m.revision,
        targets=_targets(m.targets),
        sticky_key=m.sticky_key,
        state=m.state,
        updated_by=m.updated_by,
        updated_at=time_from_pb(m.updated_at),
        agents=tuple(
            AgentStatus(
                a.agent_id, a.hostname, a.revision, a.state, a.reason, time_from_pb(a.updated_at)
            )
            for a in m.agents
        ),
        monitoring=orjson.loads(m.monitoring_json) if m.monitoring_json else {},
    )


def event_from_pb(m: deployments_pb2.DeploymentEvent) -> DeploymentEvent:
    return DeploymentEvent(
        m.revision, m.kind, m.actor, m.reason, time_from_pb(m.time), _targets(m.targets)
    )


def inference_key_from_pb(m: deployments_pb2.InferenceKeyInfo) -> InferenceKeyInfo:
    return InferenceKeyInfo(
        m.id, m.name, m.rate_per_s, m.burst, m.created_by, time_from_pb(m.created_at)
    )


def point_from_pb(m: monitoring_pb2.MetricsPoint) -> MetricsPoint:
    return MetricsPoint(
        time_from_pb(m.time),
        m.model_version,
        m.requests,
        m.errors,
        m.latency_p50,
        m.latency_p95,
        m.latency_p99,
        dict(m.extra),
    )
