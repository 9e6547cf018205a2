"""The registry half of `HubClient`: models, versions, aliases, comments, and `push_model`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from modelfleet.client import _convert as cv
from modelfleet.client._artifacts import ArtifactCalls, Progress
from modelfleet.client._calls import Scope
from modelfleet.client._registry import (
    Comment,
    ModelVersion,
    RegisteredModel,
    comment_from_pb,
    model_from_pb,
    version_from_pb,
)
from modelfleet.client._types import Page
from modelfleet.proto.v1 import registry_pb2, registry_pb2_grpc


class RegistryCalls(ArtifactCalls):
    """Mixed into `HubClient`; every call acts in the client's (or the given) workspace."""

    @property
    def _registry(self) -> registry_pb2_grpc.RegistryStub:
        return registry_pb2_grpc.RegistryStub(self._caller.channel)

    def _call(self, rpc: str, request: object, *, idempotent: bool, workspace: str | None) -> Any:
        method = getattr(self._registry, rpc)
        return self._caller.unary(
            f"Registry.{rpc}", method, request, idempotent=idempotent,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip

    # --- models ---------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        *,
        workspace: str | None = None,
    ) -> RegisteredModel:
        request = registry_pb2.CreateModelRequest(
            name=name, description=description, tags=dict(tags or {})
        )
        msg = self._call("CreateModel", request, idempotent=False, workspace=workspace)
        return model_from_pb(msg)

    def get_model(self, name: str, *, workspace: str | None = None) -> RegisteredModel:
        request = registry_pb2.GetModelRequest(name=name)
        msg = self._call("GetModel", request, idempotent=True, workspace=workspace)
        return model_from_pb(msg)

    def list_models(
        self,
        query: str = "",
        *,
        tag: str = "",
        alias: str = "",
        include_archived: bool = False,
        page_size: int = 0,
        page_token: str | None = None,
        workspace: str | None = None,
    ) -> Page[RegisteredModel]:
        """Models whose name contains `query`, with tag `key` or `key=value`, with `alias`."""
        request = registry_pb2.ListRegisteredModelsRequest(
            query=query, tag=tag, alias=alias, include_archived=include_archived,
            page=cv.page_request(page_size, page_token),
        )  # fmt: skip
        msg = self._call("ListModels", request, idempotent=True, workspace=workspace)
        return Page(tuple(model_from_pb(m) for m in msg.models), msg.next_page_token or None)

    def iter_models(
        self,
        query: str = "",
        *,
        tag: str = "",
        alias: str = "",
        include_archived: bool = False,
        workspace: str | None = None,
    ) -> Iterator[RegisteredModel]:
        """Every matching model, page after page."""
        token: str | None = None
        while True:
            page = self.list_models(
                query, tag=tag, alias=alias, include_archived=include_archived,
                page_token=token, workspace=workspace,
            )  # fmt: skip
            yield from page.items
            if not (token := page.next_page_token):
                return

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        workspace: str | None = None,
    ) -> RegisteredModel:
        """Change the description and/or replace the tags (only what is given)."""
        mask = [f for f, v in (("description", description), ("tags", tags)) if v is not None]
        request = registry_pb2.UpdateModelRequest(
            name=name, update_mask=mask, description=description or "", tags=dict(tags or {})
        )
        msg = self._call("UpdateModel", request, idempotent=True, workspace=workspace)
        return model_from_pb(msg)

    def archive_model(
        self, name: str, archived: bool = True, *, workspace: str | None = None
    ) -> RegisteredModel:
        request = registry_pb2.ArchiveModelRequest(name=name, archived=archived)
        msg = self._call("ArchiveModel", request, idempotent=True, workspace=workspace)
        return model_from_pb(msg)

    # --- versions -------------------------------------------------------------------------

    def create_version(
        self,
        model_name: str,
        artifact_sha256: str,
        *,
        create_model: bool = False,
        feature_names: Sequence[str] = (),
        reference_profile_json: str = "",
        source_run_id: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
        workspace: str | None = None,
    ) -> ModelVersion:
        """Register an uploaded ONNX artifact as the model's next version."""
        request = registry_pb2.CreateVersionRequest(
            model_name=model_name, create_model=create_model, artifact_sha256=artifact_sha256,
            feature_names=list(feature_names), reference_profile_json=reference_profile_json,
            source_run_id=source_run_id, description=description, tags=dict(tags or {}),
            aliases=list(aliases),
        )  # fmt: skip
        msg = self._call("CreateVersion", request, idempotent=False, workspace=workspace)
        return version_from_pb(msg)

    def push_model(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        aliases: Sequence[str] = (),
        feature_names: Sequence[str] = (),
        reference_profile_json: str = "",
        source_run_id: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        workspace: str | None = None,
    ) -> ModelVersion:
        """Upload an ONNX file and register it as the next version of `name` (created
        when missing)."""
        artifact = self.upload_artifact(path, progress=progress, workspace=workspace)
        return self.create_version(
            name, artifact.sha256, create_model=True, feature_names=feature_names,
            reference_profile_json=reference_profile_json, source_run_id=source_run_id,
            description=description, tags=tags, aliases=aliases, workspace=workspace,
        )  # fmt: skip

    def get_version(
        self,
        model_name: str,
        version: int | None = None,
        *,
        alias: str | None = None,
        workspace: str | None = None,
    ) -> ModelVersion:
        """A version by number or by alias (exactly one of them)."""
        if (version is None) == (alias is None):
            raise ValueError("give either a version number or an alias")
        request = registry_pb2.GetVersionRequest(model_name=model_name)
        if alias is not None:
            request.alias = alias
        elif version is not None:
            request.version = version
        msg = self._call("GetVersion", request, idempotent=True, workspace=workspace)
        return version_from_pb(msg)

    def list_versions(
        self,
        model_name: str,
        *,
        include_archived: bool = False,
        page_size: int = 0,
        page_token: str | None = None,
        workspace: str | None = None,
    ) -> Page[ModelVersion]:
        """Newest first."""
        request = registry_pb2.ListVersionsRequest(
            model_name=model_name, include_archived=include_archived,
            page=cv.page_request(page_size, page_token),
        )  # fmt: skip
        msg = self._call("ListVersions", request, idempotent=True, workspace=workspace)
        return Page(tuple(version_from_pb(v) for v in msg.versions), msg.next_page_token or None)

    def update_version(
        self,
        model_name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        workspace: str | None = None,
    ) -> ModelVersion:
        mask = [f for f, v in (("description", description), ("tags", tags)) if v is not None]
        request = registry_pb2.UpdateVersionRequest(
            model_name=model_name, version=version, update_mask=mask,
            description=description or "", tags=dict(tags or {}),
        )  # fmt: skip
        msg = self._call("UpdateVersion", request, idempotent=True, workspace=workspace)
        return version_from_pb(msg)

    def archive_version(
        self, model_name: str, version: int, archived: bool = True, *, workspace: str | None = None
    ) -> ModelVersion:
        request = registry_pb2.ArchiveVersionRequest(
            model_name=model_name, version=version, archived=archived
        )
        msg = self._call("ArchiveVersion", request, idempotent=True, workspace=workspace)
        return version_from_pb(msg)

    # --- aliases and comments ---------------------------------------------------------------

    def set_alias(
        self, model_name: str, alias: str, version: int, *, workspace: str | None = None
    ) -> ModelVersion:
        """Point `alias` at `version` (moving it if it pointed elsewhere)."""
        request = registry_pb2.SetAliasRequest(model_name=model_name, alias=alias, version=version)
        msg = self._call("SetAlias", request, idempotent=True, workspace=workspace)
        return version_from_pb(msg)

    def delete_alias(self, model_name: str, alias: str, *, workspace: str | None = None) -> None:
        request = registry_pb2.DeleteAliasRequest(model_name=model_name, alias=alias)
        self._call("DeleteAlias", request, idempotent=False, workspace=workspace)

    def add_comment(
        self, model_name: str, body: str, version: int = 0, *, workspace: str | None = None
    ) -> Comment:
        """Comment on the model (version 0) or on one of its versions."""
        request = registry_pb2.AddCommentRequest(model_name=model_name, version=version, body=body)
        msg = self._call("AddComment", request, idempotent=False, workspace=workspace)
        return comment_from_pb(msg)

    def list_comments(
        self, model_name: str, version: int = 0, *, workspace: str | None = None
    ) -> list[Comment]:
        request = registry_pb2.ListCommentsRequest(model_name=model_name, version=version)
        msg = self._call("ListComments", request, idempotent=True, workspace=workspace)
        return [comment_from_pb(c) for c in msg.comments]
