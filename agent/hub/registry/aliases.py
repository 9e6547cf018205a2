"""Alias moves (audited with the old and new version) and who may make them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.access.principal import Call
from modelfleet.agent.hub.db import ModelAlias, ModelVersion, RegisteredModel, utcnow
from modelfleet.agent.hub.errors import FailedPrecondition, PermissionDenied

# Aliases that deployments treat as production: moving them is a workspace admin's call
# (the governance policy hook for promotions plugs in here).
PROTECTED_ALIASES = frozenset({"champion", "production", "prod"})


def check_may_move(call: Call, alias: str, field: str = "alias") -> None:
    if alias in PROTECTED_ALIASES and (call.role is None or call.role < Role.ADMIN):
        raise PermissionDenied(
            f"{field}: moving {alias!r} needs the ADMIN role in workspace {call.ws.name!r}"
        )


def point_alias(
    s: Session, call: Call, model: RegisteredModel, version: ModelVersion, alias: str
) -> dict[str, object]:
    """Point `alias` at `version`; returns the audit details of the move."""
    if version.archived:
        raise FailedPrecondition(
            f"version: {model.name} version {version.version} is archived; unarchive it first"
        )
    row = s.get(ModelAlias, (model.id, alias))
    old: int | None = None
    if row is None:
        s.add(
            ModelAlias(
                model_id=model.id,
                alias=alias,
                version_id=version.id,
                updated_by=call.user.username,
            )
        )
    else:
        old = s.get_one(ModelVersion, row.version_id).version
        row.version_id = version.id
        row.updated_by = call.user.username
        row.updated_at = utcnow()
    s.flush()
    return {"alias": alias, "old_version": old, "new_version": version.version}
