"""Drift history: one row per closed drift window that an agent delivered through its outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from modelfleet.agent.hub.db.models import Base, UtcDateTime


class DriftReportRow(Base):
    """Summary columns for filtering; `report` is the agent's DriftReport message as sent
    (per-feature method, statistic, threshold, verdict and both histograms)."""

    __tablename__ = "drift_reports"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    agent_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    environment: Mapped[str] = mapped_column(String(32))
    deployment: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(64), default="")
    model_version: Mapped[int] = mapped_column(BigInteger, default=0)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    n_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    share_drifted: Mapped[float] = mapped_column(Float, default=0.0)
    dataset_drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_drift_reports_query", "workspace_id", "environment", "deployment", "window_end"),
    )
