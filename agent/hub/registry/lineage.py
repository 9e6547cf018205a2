"""A version's lineage: the metrics, params and experiment of the run that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RunLineage:
    experiment_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def copy_run_lineage(session: Session, workspace_id: str, run_id: str) -> RunLineage:
    """What CreateVersion copies from `run_id` (a run of `workspace_id`) into the version.

    The tracking tables are not part of the hub yet, so only the run id is kept (by the
    caller) and nothing is copied. Once they are: look the run up in `workspace_id` only
    (NotFound naming `source_run_id` otherwise) and return its experiment id, the latest
    value of each metric key and its params, inside this same transaction.
    """
    return RunLineage()
