"""Fleet tables: join tokens, agents, deployments and their revisions, outbox receipts, roll-ups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelfleet.agent.hub.db.models import Base, UtcDateTime, new_id, utcnow

_WS_FK = "workspaces.id"
_AGENT_FK = "agents.id"


class JoinTokenRow(Base):
    """A single-use enrolment secret; only its hash is kept."""

    __tablename__ = "join_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_WS_FK, ondelete="CASCADE"), index=True
    )
    environment: Mapped[str] = mapped_column(String(32))
    labels_json: Mapped[str] = mapped_column(Text, default="{}")
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    agent_id: Mapped[str] = mapped_column(String(32), default="")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(32))
    labels_json: Mapped[str] = mapped_column(Text, default="{}")
    hostname: Mapped[str] = mapped_column(String(255), default="")
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    http_url: Mapped[str] = mapped_column(String(512), default="")
    grpc_target: Mapped[str] = mapped_column(String(512), default="")
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    certificate_expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The last Heartbeat message as protobuf bytes (flushed in batches, not per beat).
    last_heartbeat: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Outbox: every seq <= this is stored; receipts above it wait for the gap below them.
    committed_seq: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_agents_workspace_environment", "workspace_id", "environment"),)


class OutboxReceipt(Base):
    """An outbox event stored out of order (above the agent's committed mark)."""

    __tablename__ = "outbox_receipts"

    agent_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_AGENT_FK, ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class DeploymentGeneration(Base):
    """Bumped by every deployment change in a workspace environment: the agents' revision."""

    __tablename__ = "deployment_generations"

    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_WS_FK, ondelete="CASCADE"), primary_key=True
    )
    environment: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class DeploymentRow(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    # "active" or "undeployed"; the spec of the current revision (see deployments.spec).
    state: Mapped[str] = mapped_column(String(16), default="active")
    spec_json: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index(
            "ix_deployments_workspace_environment_name",
            "workspace_id",
            "environment",
            "name",
            unique=True,
        ),
    )


class DeploymentRevision(Base):
    """Every revision of a deployment, kept: what, who, when and why."""

    __tablename__ = "deployment_revisions"

    deployment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    spec_json: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128), default="")
    reason: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AgentDeploymentState(Base):
    """What an agent last reported for one deployment."""

    __tablename__ = "agent_deployment_states"

    agent_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_AGENT_FK, ondelete="CASCADE"), primary_key=True
    )
    deployment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1024), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MetricRollupRow(Base):
    """One agent's serving metrics for one deployment version over one window."""

    __tablename__ = "metric_rollups"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_AGENT_FK, ondelete="CASCADE"), index=True
    )
    environment: Mapped[str] = mapped_column(String(32))
    deployment: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(64), default="")
    model_version: Mapped[int] = mapped_column(BigInteger, default=0)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_seconds: Mapped[int] = mapped_column(Integer, default=10)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_p50: Mapped[float] = mapped_column(Float, default=0.0)
    latency_p95: Mapped[float] = mapped_column(Float, default=0.0)
    latency_p99: Mapped[float] = mapped_column(Float, default=0.0)
    latency_mean: Mapped[float] = mapped_column(Float, default=0.0)
    batch_size_mean: Mapped[float] = mapped_column(Float, default=0.0)
    extra_json: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        Index(
            "ix_metric_rollups_query",
            "workspace_id",
            "environment",
            "deployment",
            "window_start",
        ),
    )
