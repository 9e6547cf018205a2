"""A version's lineage: the metrics, params and experiment of the run that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.tracking_models import MetricSeries, Run, RunParam
from modelfleet.agent.hub.errors import NotFound


@dataclass(frozen=True)
class RunLineage:
    experiment_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def copy_run_lineage(session: Session, workspace_id: str, run_id: str) -> RunLineage:
    """The experiment, the latest value of each metric and the params of a run of
    `workspace_id` (NOT_FOUND for a run of any other workspace)."""
    run = session.get(Run, run_id)
    if run is None or run.workspace_id != workspace_id:
        raise NotFound(f"source_run_id: no run {run_id!r} in this workspace")
    metrics = session.execute(
        select(MetricSeries.key, MetricSeries.last).where(MetricSeries.run_id == run.id)
    )
    params = session.execute(select(RunParam.key, RunParam.value).where(RunParam.run_id == run.id))
    return RunLineage(
        experiment_id=run.experiment_id,
        metrics={k: float(v) for k, v in metrics},
        params={k: v for k, v in params},
    )
