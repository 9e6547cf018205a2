"""Registry and artifact dataclasses, and their conversion from the hub's messages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from modelfleet.client._convert import time_from_pb
from modelfleet.proto.v1 import artifacts_pb2, registry_pb2


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    sha256: str
    size: int
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    # OIP datatype name (FP32, INT64, BYTES...); -1 marks a variable dimension.
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    feature_names: tuple[str, ...]
    ir_version: int
    producer: str
    # Operator-set domain -> version; "" is the default ONNX domain.
    opset: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    id: str
    name: str
    description: str
    tags: dict[str, str]
    # Alias -> version number.
    aliases: dict[str, int]
    latest_version: int
    archived: bool
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: str
    model_name: str
    version: int
    artifact_sha256: str
    artifact_size: int
    signature: Signature
    reference_profile_json: str
    metrics: dict[str, float]
    params: dict[str, str]
    source_run_id: str
    source_experiment_id: str
    description: str
    tags: dict[str, str]
    aliases: tuple[str, ...]
    archived: bool
    created_by: str
    created_at: datetime | None
    # Base64 Ed25519 signature by the hub over the version's manifest (model.onnx, digest, size).
    manifest_signature: str


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    # "model" or "version".
    target_kind: str
    target_id: str
    author: str
    body: str
    created_at: datetime | None


def artifact_from_pb(msg: artifacts_pb2.ArtifactInfo) -> ArtifactInfo:
    return ArtifactInfo(msg.sha256, msg.size, time_from_pb(msg.created_at))


def _specs(items: Iterable[registry_pb2.TensorSpec]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in items)


def signature_from_pb(msg: registry_pb2.Signature) -> Signature:
    return Signature(
        inputs=_specs(msg.inputs),
        outputs=_specs(msg.outputs),
        feature_names=tuple(msg.feature_names),
        ir_version=msg.ir_version,
        producer=msg.producer,
        opset=dict(msg.opset),
    )


def model_from_pb(msg: registry_pb2.RegisteredModel) -> RegisteredModel:
    return RegisteredModel(
        id=msg.id,
        name=msg.name,
        description=msg.description,
        tags=dict(msg.tags),
        aliases=dict(sorted(msg.aliases.items())),
        latest_version=msg.latest_version,
        archived=msg.archived,
        created_by=msg.created_by,
        created_at=time_from_pb(msg.created_at),
        updated_at=time_from_pb(msg.updated_at),
    )


def version_from_pb(msg: registry_pb2.ModelVersion) -> ModelVersion:
    return ModelVersion(
        id=msg.id,
        model_name=msg.model_name,
        version=msg.version,
        artifact_sha256=msg.artifact_sha256,
        artifact_size=msg.artifact_size,
        signature=signature_from_pb(msg.signature),
        reference_profile_json=msg.reference_profile_json,
        metrics=dict(msg.metrics),
        params=dict(msg.params),
        source_run_id=msg.source_run_id,
        source_experiment_id=msg.source_experiment_id,
        description=msg.description,
        tags=dict(msg.tags),
        aliases=tuple(msg.aliases),
        archived=msg.archived,
        created_by=msg.created_by,
        created_at=time_from_pb(msg.created_at),
        manifest_signature=msg.manifest_signature,
    )


def comment_from_pb(msg: registry_pb2.Comment) -> Comment:
    return Comment(
        id=msg.id,
        target_kind=msg.target_kind,
        target_id=msg.target_id,
        author=msg.author,
        body=msg.body,
        created_at=time_from_pb(msg.created_at),
    )
