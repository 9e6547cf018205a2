"""Deployment rows, revisions and agent states to `modelfleet.v1` messages."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.fleet_models import (
    Agent,
    AgentDeploymentState,
    DeploymentRevision,
    DeploymentRow,
)
from modelfleet.agent.hub.deployments import monitoring
from modelfleet.agent.hub.deployments.spec import Spec
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.fleet.selectors import format_labels, matches
from modelfleet.proto.v1 import deployments_pb2

Online = Callable[[Agent], bool]


def deployment(
    row: DeploymentRow, spec: Spec, agents: list[deployments_pb2.AgentDeploymentStatus]
) -> deployments_pb2.Deployment:
    return deployments_pb2.Deployment(
        id=row.id,
        name=row.name,
        environment=row.environment,
        selector=format_labels(spec.selector),
        revision=row.revision,
        targets=[t.to_pb() for t in spec.targets],
        sticky_key=spec.sticky_key,
        batching=spec.batching_pb(),
        limits=spec.limits_pb(),
        state=row.state,
        agents=agents,
        updated_by=row.updated_by,
        updated_at=timestamp(row.updated_at),
        monitoring_json=monitoring.to_json(spec.monitoring),
    )


def event(row: DeploymentRevision) -> deployments_pb2.DeploymentEvent:
    spec = Spec.from_json(row.spec_json)
    return deployments_pb2.DeploymentEvent(
        revision=row.revision,
        kind=row.kind,
        actor=row.actor,
        reason=row.reason,
        time=timestamp(row.created_at),
        targets=[t.to_pb() for t in spec.targets],
    )


def agent_statuses(
    s: Session, rows: list[DeploymentRow], online: Online
) -> dict[str, list[deployments_pb2.AgentDeploymentStatus]]:
    """Per deployment id: every live agent its selector matches, with what it reported."""
    out: dict[str, list[deployments_pb2.AgentDeploymentStatus]] = {r.id: [] for r in rows}
    if not rows:
        return out
    envs = {r.environment for r in rows}
    agents = list(
        s.scalars(
            select(Agent)
            .where(
                Agent.workspace_id == rows[0].workspace_id,
                Agent.environment.in_(envs),
                Agent.revoked_at.is_(None),
            )
            .order_by(Agent.hostname, Agent.id)
        )
    )
    reported = {
        (st.agent_id, st.deployment_id): st
        for st in s.scalars(
            select(AgentDeploymentState).where(AgentDeploymentState.deployment_id.in_(list(out)))
        )
    }
    for row in rows:
        spec = Spec.from_json(row.spec_json)
        if not spec.active:
            continue
        for agent in agents:
            if agent.environment != row.environment:
                continue
            if not matches(spec.selector, orjson.loads(agent.labels_json)):
                continue
            st = reported.get((agent.id, row.id))
            state = "pending" if st is None else st.state
            if not online(agent):
                state = "offline"
            out[row.id].append(
                deployments_pb2.AgentDeploymentStatus(
                    agent_id=agent.id,
                    hostname=agent.hostname,
                    revision=0 if st is None else st.revision,
                    state=state,
                    reason="" if st is None else st.reason,
                    updated_at=None if st is None else timestamp(st.updated_at),
                )
            )
    return out
