"""Monitoring data for the desktop's hub tests, sent the way agents send it: an agent joins
the hub with a join token and delivers metric roll-ups and drift reports through its
mutual-TLS outbox stream. The drift reports are computed by the agent's own drift code
(reference profile, streaming windows, the agent's wire conversion) from numpy data whose
first features shift half-way."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.agent.node.monitor._wire import drift_report_pb
from modelfleet.client import HubClient
from modelfleet.drift import DriftAccumulator, DriftConfig
from modelfleet.profile import compute_profile
from modelfleet.proto.v1 import fleet_pb2
from tests.fleet_hub.agentclient import JoinedAgent, Session, connect, join

DEPLOYMENT = "fraud-api"
ENVIRONMENT = "prod"
MODEL = "fraud"
FEATURES = ("amount", "age", "merchant_risk", "hour", "distance_km", "n_tx_24h")
SHIFTED = 3  # amount, age and merchant_risk move in the second half: the dataset drifts
WINDOW_ROWS = 1500


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


class SeedAgent:
    """A joined agent with an open session; `send` delivers outbox events in order."""

    def __init__(
        self, address: str, ca_pem: Path, client: HubClient, environment: str = ENVIRONMENT
    ):
        token = client.create_join_token(environment).token
        self.joined: JoinedAgent = join(address, ca_pem.read_bytes(), token, "seed-1")
        self.channel = self.joined.channel()
        self.session: Session = connect(self.channel)
        self.seq = 0

    @property
    def agent_id(self) -> str:
        return self.joined.agent_id

    def send(self, bodies: list[fleet_pb2.OutboxEvent]) -> None:
        for start in range(0, len(bodies), 500):
            events = bodies[start : start + 500]
            for event in events:
                self.seq += 1
                event.seq = self.seq
            batch = fleet_pb2.OutboxBatch(events=events)
            self.session.send(fleet_pb2.AgentMessage(outbox=batch))
            ack = self.session.recv_kind("ack", timeout=30)
            assert ack.ack.committed_seq == self.seq

    def close(self) -> None:
        self.session.close()
        self.channel.close()


def rollup(
    start: datetime, requests: int, p95_s: float, errors: int = 0, version: int = 1
) -> fleet_pb2.OutboxEvent:
    return fleet_pb2.OutboxEvent(
        rollup=fleet_pb2.MetricRollup(
            deployment=DEPLOYMENT, model_name=MODEL, model_version=version,
            window_start=_ts(start), window_seconds=10, requests=requests, errors=errors,
            latency_p50=p95_s / 3, latency_p95=p95_s, latency_p99=p95_s * 1.4,
        )
    )  # fmt: skip


def rollup_history(hours: float, end: datetime | None = None) -> list[fleet_pb2.OutboxEvent]:
    """10-second roll-ups over the last `hours`: a daily-ish traffic wave, latency following."""
    end = end or datetime.now(UTC)
    n = int(hours * 360)
    t = np.arange(n)
    rng = np.random.default_rng(5)
    requests = (200 + 120 * np.sin(t / 180.0) + rng.normal(0, 15, n)).clip(10).astype(int)
    p95 = 0.012 + 0.00004 * requests + rng.gamma(2.0, 0.001, n)
    start = end - timedelta(seconds=10 * n)
    return [
        rollup(start + timedelta(seconds=10 * i), int(requests[i]), float(p95[i]),
               errors=int(rng.random() < 0.05))
        for i in range(n)
    ]  # fmt: skip


def drift_events(windows: int, end: datetime | None = None) -> list[fleet_pb2.OutboxEvent]:
    """`windows` drift windows ending a minute apart up to `end`; the first SHIFTED features
    shift by one standard deviation from the middle window on."""
    rng = np.random.default_rng(11)
    reference = rng.normal(size=(5000, len(FEATURES))).astype(np.float32)
    profile = compute_profile(reference, list(FEATURES))
    accumulator = DriftAccumulator(profile, DriftConfig(window_rows=WINDOW_ROWS), seed=3)
    end_s = (end or datetime.now(UTC)).timestamp()
    events = []
    for w in range(windows):
        rows = rng.normal(size=(WINDOW_ROWS, len(FEATURES))).astype(np.float32)
        if w >= windows // 2:
            rows[:, :SHIFTED] += np.float32(1.0)
        now = end_s - 60.0 * (windows - 1 - w)
        (window,) = accumulator.update(rows, now=now)
        window.started_at = now - 55.0
        report = accumulator.report(window)
        events.append(fleet_pb2.OutboxEvent(drift=drift_report_pb(report, DEPLOYMENT, MODEL, 1)))
    return events


def wait_until(check, timeout: float = 20.0, every: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return value
