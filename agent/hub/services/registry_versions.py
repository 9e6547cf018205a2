"""The version half of the Registry servicer: create (ONNX checked, manifest signed), read,
list, update and archive."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import ModelAlias, ModelVersion, RegisteredModel, new_id, utcnow
from modelfleet.agent.hub.errors import Context, FailedPrecondition, InvalidArgument
from modelfleet.agent.hub.registry import checks, convert
from modelfleet.agent.hub.registry.aliases import check_may_move, point_alias
from modelfleet.agent.hub.registry.artifacts import digest, require_visible
from modelfleet.agent.hub.registry.lineage import RunLineage, copy_run_lineage
from modelfleet.agent.hub.registry.queries import (
    find_model,
    find_version,
    version_by_alias,
    version_views,
)
from modelfleet.agent.hub.services.artifacts import blob_store
from modelfleet.agent.hub.services.users import page_size
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import registry_pb2, registry_pb2_grpc

log = logging.getLogger(__name__)

_MASKABLE = ("description", "tags")


def update_mask(paths: Sequence[str]) -> set[str]:
    fields = set(paths)
    if not fields or not fields <= set(_MASKABLE):
        raise InvalidArgument(
            "update_mask", "one or more of " + ", ".join(_MASKABLE), got=repr(list(paths))
        )
    return fields


def _ensure_model(s: Session, call: Call, name: str) -> RegisteredModel:
    """The model `name`, created when missing; safe against a concurrent creation."""
    now = utcnow()
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    s.execute(
        insert(RegisteredModel)
        .values(
            id=new_id(),
            workspace_id=call.ws.id,
            name=name,
            description="",
            archived=False,
            latest_version=0,
            created_by=call.user.username,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "name"])
    )
    return find_model(s, call.ws.id, name, lock=True)


class VersionRpcs(registry_pb2_grpc.RegistryServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def CreateVersion(
        self, request: registry_pb2.CreateVersionRequest, context: Context
    ) -> registry_pb2.ModelVersion:
        call = current_call()
        name = request.model_name
        call.target = f"model:{name[:64]}"
        validation.name("model_name", name)
        sha256 = digest("artifact_sha256", request.artifact_sha256)
        validation.text("description", request.description, 4096)
        tags = checks.tags("tags", request.tags)
        aliases = [checks.alias(f"aliases[{i}]", a) for i, a in enumerate(request.aliases)]
        if len(set(aliases)) != len(aliases):
            raise InvalidArgument("aliases", "distinct aliases", got=repr(aliases))
        for i, alias in enumerate(aliases):
            check_may_move(call, alias, f"aliases[{i}]")
        run_id = checks.run_id("source_run_id", request.source_run_id)
        key = self._hub.manifest_key
        if key is None:
            raise FailedPrecondition("this hub has no manifest signing key")

        def preflight(s: Session) -> tuple[int, RunLineage]:
            # Cheap refusals first: the ONNX inspection below reads the whole artifact.
            if not request.create_model:
                _check_open(find_model(s, call.ws.id, name))
            size = require_visible(s, call.ws.id, sha256, "artifact_sha256").size
            lineage = copy_run_lineage(s, call.ws.id, run_id) if run_id else RunLineage()
            return size, lineage

        size, lineage = await self._hub.db.read(preflight)
        signature = await checks.inspect_artifact(blob_store(self._hub), sha256, size)
        names = checks.feature_names(request.feature_names, signature)
        profile = checks.reference_profile(request.reference_profile_json, names, signature)
        signature_json = orjson.dumps(checks.signature_document(signature, names)).decode()
        manifest_signature = checks.manifest_signature(sha256, size, key)

        def create(s: Session) -> registry_pb2.ModelVersion:
            if request.create_model:
                model = _ensure_model(s, call, name)
            else:
                model = find_model(s, call.ws.id, name, lock=True)
            _check_open(model)
            # The model row is locked (FOR UPDATE; SQLite writers hold the database lock),
            # so concurrent creations take consecutive numbers.
            model.latest_version += 1
            model.updated_at = utcnow()
            version = ModelVersion(
                model_id=model.id,
                version=model.latest_version,
                artifact_sha256=sha256,
                artifact_size=size,
                opset=signature.opset,
                signature_json=signature_json,
                reference_profile_json=profile,
                metrics_json=orjson.dumps(lineage.metrics).decode(),
                params_json=orjson.dumps(lineage.params).decode(),
                tags_json=orjson.dumps(tags).decode(),
                source_run_id=run_id,
                source_experiment_id=lineage.experiment_id,
                description=request.description,
                manifest_signature=manifest_signature,
                created_by=call.user.username,
            )
            s.add(version)
            s.flush()
            moves = [point_alias(s, call, model, version, a) for a in aliases]
            details = {"version": version.version, "artifact_sha256": sha256, "aliases": moves}
            record(s, call, details=details)
            return convert.version(version_views(s, model.name, [version])[0])

        created = await self._hub.db.write(create)
        log.info("[Registry.CreateVersion] model=%s version=%s", name, created.version)
        return created

    async def GetVersion(
        self, request: registry_pb2.GetVersionRequest, context: Context
    ) -> registry_pb2.ModelVersion:
        call = current_call()
        selector = request.WhichOneof("selector")
        if selector is None:
            raise InvalidArgument("version", "a version number or an alias", got="neither")

        def get(s: Session) -> registry_pb2.ModelVersion:
            model = find_model(s, call.ws.id, request.model_name)
            if selector == "alias":
                row = version_by_alias(s, model, request.alias)
            else:
                row = find_version(s, model, request.version)
            return convert.version(version_views(s, model.name, [row])[0])

        return await self._hub.db.read(get)

    async def ListVersions(
        self, request: registry_pb2.ListVersionsRequest, context: Context
    ) -> registry_pb2.ListVersionsResponse:
        call = current_call()
        limit = page_size(request.page.page_size)
        before = _version_cursor(request.page.page_token)

        def list_versions(s: Session) -> registry_pb2.ListVersionsResponse:
            model = find_model(s, call.ws.id, request.model_name)
            query = select(ModelVersion).where(ModelVersion.model_id == model.id)
            if not request.include_archived:
                query = query.where(ModelVersion.archived.is_(False))
            if before:
                query = query.where(ModelVersion.version < before)
            query = query.order_by(ModelVersion.version.desc()).limit(limit + 1)
            rows = list(s.scalars(query))
            more = len(rows) > limit
            rows = rows[:limit]
            return registry_pb2.ListVersionsResponse(
                versions=[convert.version(v) for v in version_views(s, model.name, rows)],
                next_page_token=str(rows[-1].version) if more else "",
            )

        return await self._hub.db.read(list_versions)

    async def UpdateVersion(
        self, request: registry_pb2.UpdateVersionRequest, context: Context
    ) -> registry_pb2.ModelVersion:
        call = current_call()
        call.target = f"model:{request.model_name[:64]}"
        fields = update_mask(request.update_mask)
        if "description" in fields:
            validation.text("description", request.description, 4096)
        tags = checks.tags("tags", request.tags)

        def update(s: Session) -> registry_pb2.ModelVersion:
            model = find_model(s, call.ws.id, request.model_name)
            row = find_version(s, model, request.version)
            if "description" in fields:
                row.description = request.description
            if "tags" in fields:
                row.tags_json = orjson.dumps(tags).decode()
            record(s, call, details={"version": row.version, "fields": sorted(fields)})
            return convert.version(version_views(s, model.name, [row])[0])

        return await self._hub.db.write(update)

    async def ArchiveVersion(
        self, request: registry_pb2.ArchiveVersionRequest, context: Context
    ) -> registry_pb2.ModelVersion:
        call = current_call()
        call.target = f"model:{request.model_name[:64]}"

        def archive(s: Session) -> registry_pb2.ModelVersion:
            model = find_model(s, call.ws.id, request.model_name, lock=True)
            row = find_version(s, model, request.version)
            if request.archived:
                pointing = list(
                    s.scalars(select(ModelAlias.alias).where(ModelAlias.version_id == row.id))
                )
                if pointing:
                    raise FailedPrecondition(
                        f"version: aliases {', '.join(sorted(pointing))} point at version "
                        f"{row.version}; move or delete them first"
                    )
            row.archived = request.archived
            record(s, call, details={"version": row.version, "archived": request.archived})
            return convert.version(version_views(s, model.name, [row])[0])

        return await self._hub.db.write(archive)


def _check_open(model: RegisteredModel) -> None:
    if model.archived:
        raise FailedPrecondition(f"model_name: model {model.name!r} is archived")


def _version_cursor(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit() or int(token) <= 0:
        raise InvalidArgument("page.page_token", "a token from a previous response")
    return int(token)
