"""Registry servicer: models, aliases and comments; versions come from `registry_versions`."""

from __future__ import annotations

import logging

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import (
    ModelAlias,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    RegistryComment,
    utcnow,
)
from modelfleet.agent.hub.errors import AlreadyExists, Context, InvalidArgument
from modelfleet.agent.hub.registry import checks, convert
from modelfleet.agent.hub.registry.aliases import check_may_move, point_alias
from modelfleet.agent.hub.registry.queries import (
    find_alias,
    find_model,
    find_version,
    model_views,
    set_model_tags,
    version_views,
)
from modelfleet.agent.hub.services.registry_versions import VersionRpcs, update_mask
from modelfleet.agent.hub.services.users import decode_cursor, encode_cursor, page_size
from modelfleet.proto.v1 import registry_pb2

log = logging.getLogger(__name__)

MAX_COMMENT = 10_000


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class RegistryServicer(VersionRpcs):
    async def CreateModel(
        self, request: registry_pb2.CreateModelRequest, context: Context
    ) -> registry_pb2.RegisteredModel:
        call = current_call()
        call.target = f"model:{request.name[:64]}"
        validation.name("name", request.name)
        validation.text("description", request.description, 4096)
        tags = checks.tags("tags", request.tags)

        def create(s: Session) -> registry_pb2.RegisteredModel:
            model = RegisteredModel(
                workspace_id=call.ws.id,
                name=request.name,
                description=request.description,
                created_by=call.user.username,
            )
            s.add(model)
            s.flush()
            set_model_tags(s, model, tags)
            record(s, call, details={"tags": tags})
            return convert.model(model_views(s, [model])[0])

        try:
            return await self._hub.db.write(create)
        except IntegrityError:
            raise AlreadyExists(
                f"name: a model named {request.name!r} already exists in this workspace"
            ) from None

    async def GetModel(
        self, request: registry_pb2.GetModelRequest, context: Context
    ) -> registry_pb2.RegisteredModel:
        call = current_call()

        def get(s: Session) -> registry_pb2.RegisteredModel:
            return convert.model(model_views(s, [find_model(s, call.ws.id, request.name)])[0])

        return await self._hub.db.read(get)

    async def ListModels(
        self, request: registry_pb2.ListRegisteredModelsRequest, context: Context
    ) -> registry_pb2.ListRegisteredModelsResponse:
        call = current_call()
        limit = page_size(request.page.page_size)
        after = decode_cursor(request.page.page_token) if request.page.page_token else ""
        query = select(RegisteredModel).where(RegisteredModel.workspace_id == call.ws.id)
        if not request.include_archived:
            query = query.where(RegisteredModel.archived.is_(False))
        if request.query:
            pattern = _like(validation.text("query", request.query, 64).lower())
            query = query.where(RegisteredModel.name.like(pattern, escape="\\"))
        if request.tag:
            key, has_value, value = request.tag.partition("=")
            validation.required("tag", key, "'key' or 'key=value'")
            tagged = (ModelTag.model_id == RegisteredModel.id) & (ModelTag.key == key)
            if has_value:
                tagged &= ModelTag.value == value
            query = query.where(exists().where(tagged))
        if request.alias:
            query = query.where(
                exists().where(
                    (ModelAlias.model_id == RegisteredModel.id)
                    & (ModelAlias.alias == request.alias)
                )
            )
        if after:
            query = query.where(RegisteredModel.name > after)
        query = query.order_by(RegisteredModel.name).limit(limit + 1)

        def search(s: Session) -> registry_pb2.ListRegisteredModelsResponse:
            rows = list(s.scalars(query))
            more = len(rows) > limit
            rows = rows[:limit]
            return registry_pb2.ListRegisteredModelsResponse(
                models=[convert.model(v) for v in model_views(s, rows)],
                next_page_token=encode_cursor(rows[-1].name) if more else "",
            )

        return await self._hub.db.read(search)

    async def UpdateModel(
        self, request: registry_pb2.UpdateModelRequest, context: Context
    ) -> registry_pb2.RegisteredModel:
        call = current_call()
        call.target = f"model:{request.name[:64]}"
        fields = update_mask(request.update_mask)
        if "description" in fields:
            validation.text("description", request.description, 4096)
        tags = checks.tags("tags", request.tags)

        def update(s: Session) -> registry_pb2.RegisteredModel:
            model = find_model(s, call.ws.id, request.name)
            if "description" in fields:
                model.description = request.description
            if "tags" in fields:
                set_model_tags(s, model, tags)
            model.updated_at = utcnow()
            record(s, call, details={"fields": sorted(fields)})
            return convert.model(model_views(s, [model])[0])

        return await self._hub.db.write(update)

    async def ArchiveModel(
        self, request: registry_pb2.ArchiveModelRequest, context: Context
    ) -> registry_pb2.RegisteredModel:
        call = current_call()
        call.target = f"model:{request.name[:64]}"

        def archive(s: Session) -> registry_pb2.RegisteredModel:
            model = find_model(s, call.ws.id, request.name)
            model.archived = request.archived
            model.updated_at = utcnow()
            record(s, call, details={"archived": request.archived})
            return convert.model(model_views(s, [model])[0])

        return await self._hub.db.write(archive)

    async def SetAlias(
        self, request: registry_pb2.SetAliasRequest, context: Context
    ) -> registry_pb2.ModelVersion:
        call = current_call()
        call.target = f"model:{request.model_name[:64]}"
        alias = checks.alias("alias", request.alias)
        check_may_move(call, alias)

        def move(s: Session) -> registry_pb2.ModelVersion:
            model = find_model(s, call.ws.id, request.model_name, lock=True)
            version = find_version(s, model, request.version)
            details = point_alias(s, call, model, version, alias)
            record(s, call, details=details)
            log.info(
                "[Registry.SetAlias] model=%s alias=%s version %s -> %s",
                model.name, alias, details["old_version"], version.version,
            )  # fmt: skip
            return convert.version(version_views(s, model.name, [version])[0])

        return await self._hub.db.write(move)

    async def DeleteAlias(
        self, request: registry_pb2.DeleteAliasRequest, context: Context
    ) -> registry_pb2.DeleteAliasResponse:
        call = current_call()
        call.target = f"model:{request.model_name[:64]}"
        alias = checks.alias("alias", request.alias)
        check_may_move(call, alias)

        def delete(s: Session) -> None:
            model = find_model(s, call.ws.id, request.model_name, lock=True)
            row = find_alias(s, model, alias)
            if row is None:
                raise InvalidArgument("alias", f"an alias of model {model.name!r}", repr(alias))
            old = s.get_one(ModelVersion, row.version_id).version
            s.delete(row)
            record(s, call, details={"alias": alias, "old_version": old, "new_version": None})

        await self._hub.db.write(delete)
        return registry_pb2.DeleteAliasResponse()

    async def AddComment(
        self, request: registry_pb2.AddCommentRequest, context: Context
    ) -> registry_pb2.Comment:
        call = current_call()
        call.target = f"model:{request.model_name[:64]}"
        if not request.body.strip():
            raise InvalidArgument("body", "a non-empty comment", got="empty")
        validation.text("body", request.body, MAX_COMMENT)

        def add(s: Session) -> registry_pb2.Comment:
            model = find_model(s, call.ws.id, request.model_name)
            version = find_version(s, model, request.version) if request.version else None
            row = RegistryComment(
                model_id=model.id,
                version_id=version.id if version else None,
                author=call.user.username,
                body=request.body,
            )
            s.add(row)
            s.flush()
            record(s, call, details={"version": request.version or None, "comment_id": row.id})
            return convert.comment(row)

        return await self._hub.db.write(add)

    async def ListComments(
        self, request: registry_pb2.ListCommentsRequest, context: Context
    ) -> registry_pb2.ListCommentsResponse:
        call = current_call()

        def list_comments(s: Session) -> registry_pb2.ListCommentsResponse:
            model = find_model(s, call.ws.id, request.model_name)
            version = find_version(s, model, request.version) if request.version else None
            query = select(RegistryComment).where(
                RegistryComment.model_id == model.id,
                RegistryComment.version_id == version.id
                if version
                else RegistryComment.version_id.is_(None),
            )
            rows = s.scalars(query.order_by(RegistryComment.created_at, RegistryComment.id))
            return registry_pb2.ListCommentsResponse(comments=[convert.comment(r) for r in rows])

        return await self._hub.db.read(list_comments)
