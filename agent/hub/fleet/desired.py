"""Desired state per agent: the active deployments of its workspace environment it matches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db import Database, ModelVersion, RegisteredModel
from modelfleet.agent.hub.db.fleet_models import DeploymentGeneration, DeploymentRow
from modelfleet.agent.hub.deployments import monitoring
from modelfleet.agent.hub.deployments.spec import Spec
from modelfleet.fleet.selectors import matches
from modelfleet.proto.v1 import deployments_pb2, fleet_pb2


@dataclass(frozen=True, slots=True)
class EnvironmentState:
    """Every active deployment of one workspace environment at one generation."""

    generation: int
    deployments: tuple[tuple[dict[str, str], deployments_pb2.DeploymentSpec], ...]

    def for_labels(self, labels: Mapping[str, str]) -> fleet_pb2.DesiredState:
        return fleet_pb2.DesiredState(
            revision=self.generation,
            deployments=[spec for selector, spec in self.deployments if matches(selector, labels)],
        )


class DesiredStates:
    """Environment states cached until a deployment change (or another replica's) is seen."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[tuple[str, str], EnvironmentState] = {}

    async def get(self, workspace_id: str, environment: str) -> EnvironmentState:
        key = (workspace_id, environment)
        state = self._cache.get(key)
        if state is None:
            state = await self._db.read(lambda s: load(s, workspace_id, environment))
            self._cache[key] = state
        return state

    def invalidate(self, workspace_id: str, environment: str) -> None:
        self._cache.pop((workspace_id, environment), None)

    def cached_generation(self, workspace_id: str, environment: str) -> int | None:
        state = self._cache.get((workspace_id, environment))
        return None if state is None else state.generation


def generations(s: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not keys:
        return {}
    rows = s.execute(
        select(
            DeploymentGeneration.workspace_id,
            DeploymentGeneration.environment,
            DeploymentGeneration.generation,
        ).where(
            tuple_(DeploymentGeneration.workspace_id, DeploymentGeneration.environment).in_(keys)
        )
    )
    return {(ws, env): gen for ws, env, gen in rows}


def load(s: Session, workspace_id: str, environment: str) -> EnvironmentState:
    gen = s.get(DeploymentGeneration, (workspace_id, environment))
    rows = s.scalars(
        select(DeploymentRow)
        .where(
            DeploymentRow.workspace_id == workspace_id,
            DeploymentRow.environment == environment,
            DeploymentRow.state == "active",
        )
        .order_by(DeploymentRow.name)
    ).all()
    specs = [(row, Spec.from_json(row.spec_json)) for row in rows]
    profiles = _profiles(s, workspace_id, specs)
    out = []
    for row, spec in specs:
        keys = [f"{t.model_name}:{t.model_version}" for t in spec.targets]
        message = deployments_pb2.DeploymentSpec(
            name=row.name,
            workspace_id=workspace_id,
            environment=environment,
            revision=row.revision,
            targets=[t.to_pb() for t in spec.targets],
            sticky_key=spec.sticky_key,
            batching=spec.batching_pb(),
            limits=spec.limits_pb(),
            reference_profiles={k: profiles[k] for k in keys if profiles.get(k)},
            inference_keys=[k.to_pb() for k in spec.inference_keys],
            monitoring_json=monitoring.to_json(spec.monitoring),
        )
        out.append((dict(spec.selector), message))
    return EnvironmentState(0 if gen is None else gen.generation, tuple(out))


def _profiles(
    s: Session, workspace_id: str, specs: list[tuple[DeploymentRow, Spec]]
) -> dict[str, str]:
    wanted = {(t.model_name, t.model_version) for _, spec in specs for t in spec.targets}
    if not wanted:
        return {}
    rows = s.execute(
        select(RegisteredModel.name, ModelVersion.version, ModelVersion.reference_profile_json)
        .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id)
        .where(
            RegisteredModel.workspace_id == workspace_id,
            tuple_(RegisteredModel.name, ModelVersion.version).in_(list(wanted)),
        )
    )
    return {f"{name}:{version}": profile for name, version, profile in rows}
