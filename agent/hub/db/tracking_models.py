"""The tracking tables: experiments, runs, params, tags, metric series and points, comments.

Metric points live in a narrow table keyed by a series id (one series per run and key);
the series row doubles as the summary (last/min/max/count) that every batch updates in
its own transaction, so searching and listing runs never aggregate raw points.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelfleet.agent.hub.db.models import Base, UtcDateTime, new_id, utcnow

_RUN_FK = "runs.id"


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(4096), default="")
    tags_json: Mapped[str] = mapped_column(Text, default="{}")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_experiments_workspace_name", "workspace_id", "name", unique=True),)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # Copied from the experiment so every search is scoped without a join.
    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    experiment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(256), default="")
    # modelfleet.v1.RunStatus numbers.
    status: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    parent_run_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(128), default="")

    __table_args__ = (
        Index("ix_runs_workspace_start", "workspace_id", "start_time", "id"),
        Index("ix_runs_experiment_start", "experiment_id", "start_time", "id"),
    )


class RunParam(Base):
    __tablename__ = "run_params"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(6000))
    # The value read as a number when it is one, for numeric filters and ordering.
    value_num: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        # Covering: filters read run ids from the index alone.
        Index("ix_run_params_key_value", "key", "value", "run_id"),
        Index("ix_run_params_key_num", "key", "value_num", "run_id"),
    )


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(6000))

    __table_args__ = (Index("ix_run_tags_key_value", "key", "value", "run_id"),)


class MetricSeries(Base):
    """One metric of one run, with its summary kept current by every LogBatch."""

    __tablename__ = "metric_series"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    last: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)
    count: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    last_timestamp_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_metric_series_run_key", "run_id", "key", unique=True),
        # Filters and ordering by a metric walk this index in value order.
        Index("ix_metric_series_key_last", "key", "last", "run_id"),
    )


# No primary key and no foreign key on purpose: points are only ever read by (series,
# step) range, and a heap plus one index is the cheapest shape for bulk inserts (a foreign
# key would run a lookup trigger per point, costing more than the insert). LogBatch writes
# a series row before its points in the same transaction.
metric_points = Table(
    "metric_points",
    Base.metadata,
    Column("series_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Double, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Index("ix_metric_points_series_step", "series_id", "step"),
)


class LoggedBatch(Base):
    """An idempotency key already stored for a run: a retried LogBatch stores nothing."""

    __tablename__ = "logged_batches"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"), primary_key=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    metrics_stored: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RunArtifactLink(Base):
    """A workspace artifact placed at a path of a run's artifact tree."""

    __tablename__ = "run_artifacts"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RunComment(Base):
    __tablename__ = "run_comments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_run_comments_run_time", "run_id", "created_at"),)
