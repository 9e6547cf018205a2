"""Drift history: agents' closed drift windows checked, stored, and queried over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.drift_models import DriftReportRow
from modelfleet.agent.hub.db.fleet_models import Agent
from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.proto.v1 import drift_pb2

DEFAULT_RANGE = timedelta(hours=1)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_FEATURES = 10_000


def check_drift(report: drift_pb2.DriftReport, field: str) -> None:
    """Refuse a report that cannot be stored or shown (the batch is then refused whole)."""
    if not 1 <= len(report.deployment) <= 64:
        raise InvalidArgument(f"{field}.deployment", "a deployment name")
    if not report.HasField("window_start") or not report.HasField("window_end"):
        raise InvalidArgument(f"{field}.window_start", "the window's start and end times")
    if len(report.features) > MAX_FEATURES:
        raise InvalidArgument(f"{field}.features", f"at most {MAX_FEATURES} features")


def drift_row(agent: Agent, report: drift_pb2.DriftReport) -> DriftReportRow:
    return DriftReportRow(
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        environment=agent.environment,
        deployment=report.deployment,
        model_name=report.model_name[:64],
        model_version=report.model_version,
        window_start=report.window_start.ToDatetime(tzinfo=UTC),
        window_end=report.window_end.ToDatetime(tzinfo=UTC),
        n_rows=report.n_rows,
        share_drifted=report.share_drifted,
        dataset_drifted=report.dataset_drifted,
        report=report.SerializeToString(),
    )


@dataclass(frozen=True, slots=True)
class DriftQuery:
    workspace_id: str
    environment: str
    deployment: str
    since: datetime
    until: datetime
    model_version: int
    limit: int
    drifted_only: bool


def make_query(
    workspace_id: str,
    environment: str,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    model_version: int,
    limit: int,
    drifted_only: bool,
) -> DriftQuery:
    if not deployment:
        raise InvalidArgument("deployment", "a deployment name", got="empty")
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_RANGE
    if since >= until:
        raise InvalidArgument("since", "a time before until")
    if limit > MAX_LIMIT:
        raise InvalidArgument("limit", f"at most {MAX_LIMIT}", got=str(limit))
    return DriftQuery(
        workspace_id, environment, deployment, since, until, model_version,
        limit or DEFAULT_LIMIT, drifted_only,
    )  # fmt: skip


def query(s: Session, q: DriftQuery) -> list[tuple[str, str, bytes]]:
    """(agent id, environment, report bytes), newest window first."""
    stmt = select(DriftReportRow.agent_id, DriftReportRow.environment, DriftReportRow.report).where(
        DriftReportRow.workspace_id == q.workspace_id,
        DriftReportRow.deployment == q.deployment,
        DriftReportRow.window_end >= q.since,
        DriftReportRow.window_end < q.until,
    )
    if q.environment:
        stmt = stmt.where(DriftReportRow.environment == q.environment)
    if q.model_version:
        stmt = stmt.where(DriftReportRow.model_version == q.model_version)
    if q.drifted_only:
        stmt = stmt.where(DriftReportRow.dataset_drifted.is_(True))
    stmt = stmt.order_by(DriftReportRow.window_end.desc(), DriftReportRow.id.desc()).limit(q.limit)
    return [(a, e, bytes(r)) for a, e, r in s.execute(stmt)]
