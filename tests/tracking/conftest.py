"""Tracking tests run against the in-process hub (real servicers, interceptor and database)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelfleet.client import MetricSummary
from modelfleet.client._tracking import run_from_pb
from modelfleet.proto.v1 import tracking_pb2, tracking_pb2_grpc
from tests.hub.conftest import DEVELOPER, VIEWER, Hub, start_hub

WORKSPACE = "ml"


@dataclass
class Tracking:
    hub: Hub
    stub: tracking_pb2_grpc.TrackingStub
    # Metadata of a developer and of a viewer in WORKSPACE.
    dev: list[tuple[str, str]]
    viewer: list[tuple[str, str]]


@pytest.fixture
def tracking(hub_db_url: str, tmp_path: Path) -> Iterator[Tracking]:
    server, hub = start_hub(tmp_path / "hub", hub_db_url)
    try:
        hub.add_workspace(WORKSPACE)
        for name, role in (("dev", DEVELOPER), ("viewer", VIEWER)):
            hub.add_user(name)
            hub.set_member(WORKSPACE, name, role)
        yield Tracking(
            hub,
            tracking_pb2_grpc.TrackingStub(hub.channel),
            hub.md(hub.token("dev", "password-123"), WORKSPACE),
            hub.md(hub.token("viewer", "password-123"), WORKSPACE),
        )
    finally:
        hub.channel.close()
        server.stop()
        hub.state.db.dispose()


def columns(keys: list[str], codes: Any, values: Any, steps: Any) -> tracking_pb2.MetricColumns:
    """Points as the columnar message the SDK sends (timestamps left to the hub)."""
    n = len(values)
    return tracking_pb2.MetricColumns(
        keys=keys,
        key_index=np.asarray(codes, dtype="<u4").tobytes(),
        values=np.asarray(values, dtype="<f8").tobytes(),
        steps=np.asarray(steps, dtype="<i8").tobytes(),
        timestamps_ms=np.zeros(n, dtype="<i8").tobytes(),
    )


def new_run(
    t: Tracking,
    experiment: str = "exp",
    *,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    name: str = "",
) -> str:
    """A run with the given params and tags, and one point (step 0) per metric."""
    run = t.stub.CreateRun(
        tracking_pb2.CreateRunRequest(
            experiment=experiment, name=name, params=params or {}, tags=tags or {}
        ),
        metadata=t.dev,
    )
    if metrics:
        points = [tracking_pb2.MetricPoint(key=k, value=v) for k, v in metrics.items()]
        t.stub.LogBatch(
            tracking_pb2.LogBatchRequest(run_id=run.id, idempotency_key="m", metrics=points),
            metadata=t.dev,
        )
    return run.id


def summaries(run: tracking_pb2.Run) -> dict[str, MetricSummary]:
    """A run message's metric summaries by key, read as the client reads them."""
    return run_from_pb(run).metrics


def last_value(run: tracking_pb2.Run, key: str) -> float | None:
    summary = summaries(run).get(key)
    return summary.last if summary is not None else None
