"""Alerting tables: channels, rules, alert instances, their history, and the delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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


class AlertChannel(Base):
    """Where notifications go. `config_json` holds no secret; the secret is sealed."""

    __tablename__ = "alert_channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    # AES-GCM sealed by the hub's secrets keyring (see agent/hub/secrets.py).
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_alert_channels_workspace_name", "workspace_id", "name", unique=True),
    )


class AlertRuleRow(Base):
    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1024), default="")
    series: Mapped[str] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(32), default="")
    deployment: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[str] = mapped_column(String(32), default="")
    comparator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    resolve_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    for_seconds: Mapped[int] = mapped_column(Integer, default=0)
    window_seconds: Mapped[int] = mapped_column(Integer, default=60)
    min_samples: Mapped[int] = mapped_column(BigInteger, default=0)
    severity: Mapped[int] = mapped_column(Integer, default=2)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_alert_rules_workspace_name", "workspace_id", "name", unique=True),)


class AlertRuleChannel(Base):
    """A rule notifies a channel; a channel in use cannot be deleted."""

    __tablename__ = "alert_rule_channels"

    rule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_channels.id"), primary_key=True, index=True
    )


class AlertRow(Base):
    """One alert instance: a rule applied to one label set (deployment, agent...)."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_rules.id", ondelete="CASCADE")
    )
    # sha256 of the rule id and the sorted labels: one alert per (rule, label set).
    fingerprint: Mapped[str] = mapped_column(String(64))
    labels_json: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="inactive")
    value: Mapped[float] = mapped_column(Float, default=0.0)
    # Bumped by every state transition: the transition's number in idempotency keys.
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(String(128), default="")
    silenced_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    silenced_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_alerts_rule_fingerprint", "rule_id", "fingerprint", unique=True),
        Index("ix_alerts_workspace_state", "workspace_id", "state"),
    )


class AlertEventRow(Base):
    """The history of an alert: transitions, acknowledgements and silences."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float, default=0.0)
    actor: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str] = mapped_column(String(1024), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AlertDelivery(Base):
    """One notification of one channel: the delivery log and the retry queue in one row."""

    __tablename__ = "alert_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey(_WS_FK, ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("alert_channels.id", ondelete="SET NULL"), nullable=True, index=True
    )
    channel_name: Mapped[str] = mapped_column(String(64), default="")
    alert_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # (alert, transition seq, channel): a transition is notified once per channel.
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    event: Mapped[str] = mapped_column(String(16))
    # The notification as it was at the transition, so every retry sends the same thing.
    message_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(512), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # A replica claims a due row until this time; another may take it over afterwards.
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    lease_owner: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_workspace_created", "workspace_id", "created_at"),
    )
