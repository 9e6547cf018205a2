"""Registry rows to `modelfleet.v1` registry messages."""

from __future__ import annotations

from typing import Any

import orjson

from modelfleet.agent.hub.db import RegistryComment
from modelfleet.agent.hub.registry.queries import ModelView, VersionView
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.proto.v1 import registry_pb2


def model(view: ModelView) -> registry_pb2.RegisteredModel:
    row = view.model
    return registry_pb2.RegisteredModel(
        id=row.id,
        name=row.name,
        description=row.description,
        tags=view.tags,
        aliases=view.aliases,
        latest_version=row.latest_version,
        archived=row.archived,
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
    )


def _specs(items: list[dict[str, Any]]) -> list[registry_pb2.TensorSpec]:
    return [
        registry_pb2.TensorSpec(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        for t in items
    ]


def signature(document: dict[str, Any]) -> registry_pb2.Signature:
    return registry_pb2.Signature(
        inputs=_specs(document["inputs"]),
        outputs=_specs(document["outputs"]),
        feature_names=document["feature_names"],
        ir_version=document["ir_version"],
        producer=document["producer"],
        opset=document["opset"],
    )


def version(view: VersionView) -> registry_pb2.ModelVersion:
    row = view.version
    return registry_pb2.ModelVersion(
        id=row.id,
        model_name=view.model_name,
        version=row.version,
        artifact_sha256=row.artifact_sha256,
        artifact_size=row.artifact_size,
        signature=signature(orjson.loads(row.signature_json)),
        reference_profile_json=row.reference_profile_json,
        metrics=orjson.loads(row.metrics_json),
        params=orjson.loads(row.params_json),
        source_run_id=row.source_run_id,
        source_experiment_id=row.source_experiment_id,
        description=row.description,
        tags=orjson.loads(row.tags_json),
        aliases=view.aliases,
        archived=row.archived,
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
        manifest_signature=row.manifest_signature,
    )


def comment(row: RegistryComment) -> registry_pb2.Comment:
    kind, target = ("version", row.version_id) if row.version_id else ("model", row.model_id)
    return registry_pb2.Comment(
        id=row.id,
        target_kind=kind,
        target_id=target,
        author=row.author,
        body=row.body,
        created_at=timestamp(row.created_at),
    )
