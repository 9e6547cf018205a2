"""Deployment rows and revisions: resolve versions through the registry, write revisions."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db import ModelVersion, RegisteredModel, utcnow
from modelfleet.agent.hub.db.fleet_models import (
    DeploymentGeneration,
    DeploymentRevision,
    DeploymentRow,
)
from modelfleet.agent.hub.deployments.spec import Spec, Target
from modelfleet.agent.hub.errors import FailedPrecondition, InvalidArgument, NotFound
from modelfleet.agent.hub.registry.queries import find_model, find_version, version_by_alias
from modelfleet.fleet.identity import check_environment
from modelfleet.fleet.selectors import format_labels, parse_labels

KINDS = ("deploy", "promote", "rollback", "traffic", "undeploy", "keys", "monitoring")


def environment(field: str, value: str) -> str:
    try:
        check_environment(value)
    except ValueError as exc:
        raise InvalidArgument(field, "an environment name like 'staging'", got=str(exc)) from None
    return value


def selector(field: str, text: str) -> dict[str, str]:
    try:
        return parse_labels([text])
    except ValueError as exc:
        raise InvalidArgument(field, "key=value terms separated by ','", got=str(exc)) from None


def find(
    s: Session, workspace_id: str, env: str, name: str, *, lock: bool = False
) -> DeploymentRow:
    query = select(DeploymentRow).where(
        DeploymentRow.workspace_id == workspace_id,
        DeploymentRow.environment == env,
        DeploymentRow.name == name,
    )
    row = s.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"name: no deployment {name[:64]!r} in environment {env!r}")
    return row


def find_optional(s: Session, workspace_id: str, env: str, name: str) -> DeploymentRow | None:
    try:
        return find(s, workspace_id, env, name, lock=True)
    except NotFound:
        return None


def target(
    s: Session, model: RegisteredModel, version: ModelVersion, percent: int, field: str
) -> Target:
    if version.archived:
        raise FailedPrecondition(
            f"{field}: {model.name} version {version.version} is archived and cannot be deployed"
        )
    names = orjson.loads(version.signature_json).get("feature_names", [])
    return Target(
        model_name=model.name,
        model_version=version.version,
        percent=percent,
        artifact_sha256=version.artifact_sha256,
        artifact_size=version.artifact_size,
        manifest_signature=version.manifest_signature,
        feature_names=tuple(names),
    )


def resolve(
    s: Session, workspace_id: str, model_name: str, number: int, alias: str
) -> tuple[Target, str]:
    """The single 100% target for model `model_name` at `number` or `alias` (exactly one)."""
    if bool(number) == bool(alias):
        raise InvalidArgument("model_version", "exactly one of model_version and alias")
    model = find_model(s, workspace_id, model_name)
    if alias:
        return target(s, model, version_by_alias(s, model, alias), 100, "alias"), f"alias:{alias}"
    return target(s, model, find_version(s, model, number), 100, "model_version"), ""


def retarget(
    s: Session, workspace_id: str, model_name: str, split: Sequence[tuple[int, int]]
) -> tuple[Target, ...]:
    model = find_model(s, workspace_id, model_name)
    out = []
    for i, (number, percent) in enumerate(split):
        field = f"split[{i}].model_version"
        try:
            version = find_version(s, model, number)
        except NotFound as exc:
            raise NotFound(f"{field}: {exc.message}") from None
        out.append(target(s, model, version, percent, field))
    return tuple(out)


def write_revision(
    s: Session,
    workspace_id: str,
    env: str,
    name: str,
    spec: Spec,
    *,
    kind: str,
    actor: str,
    reason: str,
    row: DeploymentRow | None = None,
) -> DeploymentRow:
    """Make `spec` the deployment's new current revision, keep it, and bump the generation."""
    assert kind in KINDS
    now = utcnow()
    if row is None:
        row = DeploymentRow(
            workspace_id=workspace_id, name=name, environment=env, revision=0, spec_json=""
        )
        s.add(row)
    row.revision += 1
    row.state = spec.state
    row.spec_json = spec.to_json()
    row.updated_by = actor
    row.updated_at = now
    s.flush()
    s.add(
        DeploymentRevision(
            deployment_id=row.id,
            revision=row.revision,
            kind=kind,
            state=spec.state,
            spec_json=row.spec_json,
            actor=actor,
            reason=reason,
            created_at=now,
        )
    )
    bump_generation(s, workspace_id, env)
    return row


def bump_generation(s: Session, workspace_id: str, env: str) -> int:
    key = (workspace_id, env)
    gen = s.get(DeploymentGeneration, key, with_for_update=True)
    if gen is None:
        gen = DeploymentGeneration(workspace_id=workspace_id, environment=env, generation=0)
        s.add(gen)
    gen.generation += 1
    s.flush()
    return gen.generation


def revision(s: Session, row: DeploymentRow, number: int) -> DeploymentRevision:
    found = s.get(DeploymentRevision, (row.id, number))
    if found is None:
        raise NotFound(f"to_revision: deployment {row.name!r} has no revision {number}")
    return found


def revisions(s: Session, row: DeploymentRow) -> list[DeploymentRevision]:
    query = select(DeploymentRevision).where(DeploymentRevision.deployment_id == row.id)
    return list(s.scalars(query.order_by(DeploymentRevision.revision)))


def describe(spec: Spec) -> dict[str, object]:
    """Audit details of a revision's content."""
    return {
        "targets": {f"{t.model_name}:{t.model_version}": t.percent for t in spec.targets},
        "selector": format_labels(spec.selector),
        "state": spec.state,
    }
