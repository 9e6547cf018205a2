"""The registry's tables: workspace artifacts and uploads, models, versions, aliases, comments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelfleet.agent.hub.db.models import Base, UtcDateTime, new_id, utcnow

_WS_FK = "workspaces.id"


class WorkspaceArtifact(Base):
    """A blob visible in one workspace; the bytes live once in the blob store, by digest."""

    __tablename__ = "workspace_artifacts"

    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_WS_FK, ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ArtifactUpload(Base):
    """An open upload session of the blob store, owned by one workspace."""

    __tablename__ = "artifact_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    # One open upload per digest and workspace: StartUpload finds it again to resume.
    __table_args__ = (
        Index("ix_artifact_uploads_workspace_sha256", "workspace_id", "sha256", unique=True),
    )


class RegisteredModel(Base):
    __tablename__ = "registered_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(4096), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # The version counter: incremented in the creating transaction, which row-locks it.
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_registered_models_workspace_name", "workspace_id", "name", unique=True),
    )


class ModelTag(Base):
    """Model tags live in rows so that search by tag uses an index."""

    __tablename__ = "model_tags"

    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024), default="")

    __table_args__ = (Index("ix_model_tags_key_value", "key", "value"),)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    opset: Mapped[int] = mapped_column(Integer)
    signature_json: Mapped[str] = mapped_column(Text)
    reference_profile_json: Mapped[str] = mapped_column(Text, default="")
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    tags_json: Mapped[str] = mapped_column(Text, default="{}")
    source_run_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    source_experiment_id: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(String(4096), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest_signature: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_model_versions_model_version", "model_id", "version", unique=True),)


class ModelAlias(Base):
    """A named pointer at one version ("champion", "staging"); deployments follow it."""

    __tablename__ = "model_aliases"

    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    version_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    updated_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RegistryComment(Base):
    __tablename__ = "registry_comments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE")
    )
    # NULL: a comment on the model itself.
    version_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_registry_comments_model_version_time", "model_id", "version_id", "created_at"),
    )
