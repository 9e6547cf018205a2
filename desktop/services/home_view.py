"""What the Home page shows, gathered in one pass: fleet health, deployments with their
recent traffic and latency, firing alerts and recent activity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from modelfleet.client import Alert, AuditEvent, AuditFilter, HubClient, ModelfleetError
from modelfleet.client._fleet import Agent, Deployment, MetricsPoint
from modelfleet.desktop.services.cancel import CancelToken

FloatArray = npt.NDArray[np.float64]
WINDOW = timedelta(minutes=30)
ACTIVITY = 12


@dataclass(frozen=True)
class Traffic:
    """One deployment's recent roll-ups: time (Unix s), requests per second, p95 in ms."""

    time: FloatArray
    rps: FloatArray
    p95_ms: FloatArray

    @property
    def latest(self) -> str:
        if not len(self.time):
            return "no traffic yet"
        return f"{self.rps[-1]:.1f} req/s · p95 {self.p95_ms[-1]:.1f} ms"


@dataclass(frozen=True)
class HomeSnapshot:
    agents: list[Agent]
    deployments: list[Deployment]
    traffic: dict[str, Traffic]  # "name@environment" -> roll-ups
    alerts: list[Alert] | None  # None: not readable with this role
    activity: list[AuditEvent] | None  # None: not readable with this role
    notes: list[str] = field(default_factory=list)

    @property
    def online(self) -> int:
        return sum(a.state == "online" for a in self.agents)

    @property
    def offline(self) -> int:
        return sum(a.state == "offline" for a in self.agents)


def traffic_of(points: list[MetricsPoint], step_s: float) -> Traffic:
    """Sum the versions of each time step; latency is the request-weighted p95."""
    if not points:
        empty = np.empty(0)
        return Traffic(empty, empty, empty)
    table = np.array(
        [((p.time or datetime.min.replace(tzinfo=UTC)).timestamp(), p.requests, p.latency_p95)
         for p in points], dtype=np.float64,
    )  # fmt: skip
    times, index = np.unique(table[:, 0], return_inverse=True)
    requests = np.bincount(index, weights=table[:, 1])
    weighted = np.bincount(index, weights=table[:, 1] * table[:, 2])
    p95 = np.divide(weighted, requests, out=np.zeros_like(weighted), where=requests > 0)
    return Traffic(times, requests / step_s, p95 * 1000.0)


def collect_home(
    client: HubClient, workspace: str | None, read_audit: bool, token: CancelToken,
    step_s: int = 10,
) -> HomeSnapshot:  # fmt: skip
    agents = client.list_agents(workspace=workspace)
    deployments = client.list_deployments(workspace=workspace)
    since = datetime.now(UTC) - WINDOW
    traffic = {}
    for d in deployments:
        token.raise_if_cancelled()
        points = client.query_metrics(d.name, d.environment, since=since,
                                      step_seconds=step_s, workspace=workspace)  # fmt: skip
        traffic[f"{d.name}@{d.environment}"] = traffic_of(points, step_s)
    notes = []
    alerts: list[Alert] | None = None
    try:
        alerts = list(client.list_alerts(states=("firing",), workspace=workspace).items)
    except ModelfleetError as exc:
        notes.append(f"Alerts: {exc}")
    activity = None
    if read_audit:
        page = client.query_audit(AuditFilter(), page_size=ACTIVITY, workspace=workspace)
        activity = list(page.items)
    return HomeSnapshot(agents, deployments, traffic, alerts, activity, notes)
