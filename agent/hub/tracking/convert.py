"""Tracking rows to `modelfleet.v1` tracking messages."""

from __future__ import annotations

import orjson

from modelfleet.agent.hub.db.tracking_models import Experiment, RunComment
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.agent.hub.tracking.queries import MetricColumns, RunView
from modelfleet.proto.v1 import registry_pb2, tracking_pb2


def experiment(row: Experiment, run_count: int) -> tracking_pb2.Experiment:
    return tracking_pb2.Experiment(
        id=row.id,
        name=row.name,
        description=row.description,
        tags=orjson.loads(row.tags_json),
        run_count=run_count,
        created_at=timestamp(row.created_at),
        created_by=row.created_by,
    )


def metric_table(columns: MetricColumns) -> tracking_pb2.MetricTable:
    return tracking_pb2.MetricTable(
        keys=columns.keys,
        last=columns.last,
        min=columns.min,
        max=columns.max,
        count=columns.count,
        last_step=columns.last_step,
    )


def summary(columns: MetricColumns, index: int) -> tracking_pb2.MetricSummary:
    """The summary in row `index` of `columns`."""
    return tracking_pb2.MetricSummary(
        key=columns.keys[index],
        last=columns.last[index],
        min=columns.min[index],
        max=columns.max[index],
        count=columns.count[index],
        last_step=columns.last_step[index],
    )


def run(view: RunView) -> tracking_pb2.Run:
    row = view.run
    # Summaries go in as packed columns; artifacts as the dicts they were loaded as (a
    # message constructor takes a mapping for a message field).
    return tracking_pb2.Run(
        id=row.id,
        experiment_id=row.experiment_id,
        name=row.name,
        status=row.status,  # type: ignore[arg-type]
        start_time=timestamp(row.start_time),
        end_time=timestamp(row.end_time),
        params=view.params,
        tags=view.tags,
        metrics=metric_table(view.metrics),
        artifacts=view.artifacts,  # type: ignore[arg-type]
        parent_run_id=row.parent_run_id or "",
        created_by=row.created_by,
    )


def comment(row: RunComment) -> registry_pb2.Comment:
    return registry_pb2.Comment(
        id=row.id,
        target_kind="run",
        target_id=row.run_id,
        author=row.author,
        body=row.body,
        created_at=timestamp(row.created_at),
    )
