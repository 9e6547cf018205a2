"""Registry lookups, always scoped by workspace, and the row bundles the converters need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db import ModelAlias, ModelTag, ModelVersion, RegisteredModel
from modelfleet.agent.hub.errors import InvalidArgument, NotFound


@dataclass
class ModelView:
    model: RegisteredModel
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass
class VersionView:
    version: ModelVersion
    model_name: str
    aliases: list[str] = field(default_factory=list)


def find_model(s: Session, workspace_id: str, name: str, *, lock: bool = False) -> RegisteredModel:
    """The workspace's model called `name` (NOT_FOUND for any other workspace's)."""
    if not name:
        raise InvalidArgument("model_name", "a model name", got="empty")
    query = select(RegisteredModel).where(
        RegisteredModel.workspace_id == workspace_id, RegisteredModel.name == name
    )
    model = s.scalars(query.with_for_update() if lock else query).first()
    if model is None:
        raise NotFound(f"model_name: no model {name[:64]!r} in this workspace")
    return model


def find_version(s: Session, model: RegisteredModel, number: int) -> ModelVersion:
    if number <= 0:
        raise InvalidArgument("version", "a version number >= 1", got=str(number))
    row = s.scalars(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == number
        )
    ).first()
    if row is None:
        raise NotFound(f"version: model {model.name!r} has no version {number}")
    return row


def find_alias(s: Session, model: RegisteredModel, alias: str) -> ModelAlias | None:
    return s.get(ModelAlias, (model.id, alias))


def version_by_alias(s: Session, model: RegisteredModel, alias: str) -> ModelVersion:
    row = find_alias(s, model, alias)
    if row is None:
        raise NotFound(f"alias: model {model.name!r} has no alias {alias[:64]!r}")
    return s.get_one(ModelVersion, row.version_id)


def model_views(s: Session, models: Sequence[RegisteredModel]) -> list[ModelView]:
    """Models with their tags and aliases, in two queries whatever their number."""
    views = {m.id: ModelView(m) for m in models}
    if not views:
        return []
    for tag in s.scalars(select(ModelTag).where(ModelTag.model_id.in_(views))):
        views[tag.model_id].tags[tag.key] = tag.value
    rows = s.execute(
        select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(ModelAlias.model_id.in_(views))
    )
    for model_id, alias, number in rows:
        views[model_id].aliases[alias] = number
    return [views[m.id] for m in models]


def version_views(s: Session, model_name: str, rows: Sequence[ModelVersion]) -> list[VersionView]:
    views = {v.id: VersionView(v, model_name) for v in rows}
    if not views:
        return []
    aliases: defaultdict[str, list[str]] = defaultdict(list)
    query = select(ModelAlias.version_id, ModelAlias.alias).where(ModelAlias.version_id.in_(views))
    for version_id, alias in s.execute(query.order_by(ModelAlias.alias)):
        aliases[version_id].append(alias)
    for version_id, view in views.items():
        view.aliases = aliases[version_id]
    return [views[v.id] for v in rows]


def set_model_tags(s: Session, model: RegisteredModel, tags: dict[str, str]) -> None:
    """Replace the model's tags with `tags`."""
    for row in s.scalars(select(ModelTag).where(ModelTag.model_id == model.id)):
        s.delete(row)
    s.flush()
    s.add_all(ModelTag(model_id=model.id, key=k, value=v) for k, v in tags.items())
