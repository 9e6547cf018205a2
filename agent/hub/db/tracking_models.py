"""The tracking tables: experiments, runs, params, tags, metric series and points, comments.

Metric points live in a narrow table keyed by a series id (one series per run and key);
the series row doubles as the summary (last/min/max/count) that every batch updates in
its own transaction, so searching and listing runs never aggregate raw points.

Runs also carry an integer key (`runs.seq`), copied as `run_seq` into the summary, param
and tag rows: the search indexes hold that 8-byte key instead of the 32-character id,
which halves them and makes each semi-join probe an integer comparison.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelfleet.agent.hub.db.models import Base, UtcDateTime, new_id, utcnow

_RUN_FK = "runs.id"
_KEY_TYPE = BigInteger().with_variant(Integer, "sqlite")


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
    # Generated on PostgreSQL; SQLite has no identity columns, so `next_run_seq` fills it
    # under the write lock every SQLite writer holds.
    seq: Mapped[int] = mapped_column(_KEY_TYPE, Identity())
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
        Index("ix_runs_seq", "seq", unique=True),
    )
    __mapper_args__ = {"eager_defaults": True}


class RunParam(Base):
    __tablename__ = "run_params"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_seq: Mapped[int] = mapped_column(_KEY_TYPE)
    value: Mapped[str] = mapped_column(String(6000))
    # The value read as a number when it is one, for numeric filters and ordering.
    value_num: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        # Covering: filters read run keys from the index alone.
        Index("ix_run_params_key_value_seq", "key", "value", "run_seq"),
        Index("ix_run_params_key_num_seq", "key", "value_num", "run_seq"),
        Index("ix_run_params_seq_key", "run_seq", "key", unique=True),
    )


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_seq: Mapped[int] = mapped_column(_KEY_TYPE)
    value: Mapped[str] = mapped_column(String(6000))

    __table_args__ = (
        Index("ix_run_tags_key_value_seq", "key", "value", "run_seq"),
        Index("ix_run_tags_seq_key", "run_seq", "key", unique=True),
    )


class MetricSeries(Base):
    """One metric of one run, with its summary kept current by every LogBatch."""

    __tablename__ = "metric_series"

    id: Mapped[int] = mapped_column(_KEY_TYPE, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey(_RUN_FK, ondelete="CASCADE"))
    run_seq: Mapped[int] = mapped_column(_KEY_TYPE)
    key: Mapped[str] = mapped_column(String(250))
    last: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)
    count: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    last_timestamp_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_metric_series_run_key", "run_id", "key", unique=True),
        # Filters and ordering by a metric walk this index in value order; the other one
        # answers "does run N have metric K in range" with one probe.
        Index("ix_metric_series_key_last_seq", "key", "last", "run_seq"),
        Index("ix_metric_series_seq_key", "run_seq", "key", "last"),
    )


# No primary key and no foreign key on purpose: points are only ever read by (series,
# step) range, and a heap plus one index is the cheapest shape for bulk inserts (a foreign
# key would run a lookup trigger per point, costing more than the insert). LogBatch writes
# a series row before its points in the same transaction.
metric_points = Table(
    "metric_points",
    Base.metadata,
    Column("series_id", _KEY_TYPE, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Double, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Index("ix_metric_points_series_step", "series_id", "step"),
)


# Pre-aggregated history: one row per series and block of BLOCK_STEPS consecutive steps
# (block = step // BLOCK_STEPS), merged by every LogBatch. A long curve is downsampled from
# these rows instead of its points; same shape and reasoning as metric_points.
BLOCK_STEPS = 256
metric_blocks = Table(
    "metric_blocks",
    Base.metadata,
    Column("series_id", _KEY_TYPE, primary_key=True, autoincrement=False),
    Column("block", BigInteger, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
    Column("min", Double, nullable=False),
    Column("max", Double, nullable=False),
    Column("first_step", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    # The point with the greatest step (latest timestamp on ties).
    Column("last_value", Double, nullable=False),
    Column("last_timestamp_ms", BigInteger, nullable=False),
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
