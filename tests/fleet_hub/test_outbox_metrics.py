"""Outbox ingest exactly once under duplicates and reordering; QueryMetrics buckets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select

from modelfleet.agent.hub.audit import verify_chain
from modelfleet.agent.hub.db import AuditEvent
from modelfleet.agent.hub.db.fleet_models import MetricRollupRow
from modelfleet.proto.v1 import fleet_pb2, monitoring_pb2
from tests.fleet_hub.agentclient import Session, connect
from tests.fleet_hub.conftest import FleetHub

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def _audit(seq: int) -> fleet_pb2.OutboxEvent:
    return fleet_pb2.OutboxEvent(
        seq=seq,
        time=_ts(T0),
        audit=fleet_pb2.AgentAuditEvent(
            action="Deployment.Loaded", target="deployment:fraud", details_json=f'{{"n": {seq}}}'
        ),
    )


def _rollup(
    seq: int, version: int, start: datetime, requests: int, p50: float
) -> fleet_pb2.OutboxEvent:
    return fleet_pb2.OutboxEvent(
        seq=seq,
        rollup=fleet_pb2.MetricRollup(
            deployment="fraud", model_name="fraud-model", model_version=version,
            window_start=_ts(start), window_seconds=10, requests=requests, errors=1,
            latency_p50=p50, latency_p95=2 * p50, latency_p99=3 * p50, extra={"psi": 0.1},
        ),
    )  # fmt: skip


def _send(session: Session, *events: fleet_pb2.OutboxEvent, oldest: int = 0) -> int:
    batch = fleet_pb2.OutboxBatch(events=list(events), oldest_pending_seq=oldest)
    session.send(fleet_pb2.AgentMessage(outbox=batch))
    return int(session.recv_kind("ack").ack.committed_seq)


def test_outbox_is_stored_exactly_once(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    agent = hub.enrol(hostname="edge-1")
    with agent.channel() as channel:
        session = connect(channel)
        assert _send(session, _audit(1), _audit(2)) == 2
        # Reordered: 5 and 6 arrive before 3 and 4; the mark waits for the gap.
        assert _send(session, _audit(5), _rollup(6, 1, T0, 10, 1.0)) == 2
        assert _send(session, _audit(2), _audit(1)) == 2  # duplicates of stored events
        assert _send(session, _audit(4), _audit(3), _audit(4)) == 6
        assert _send(session, _audit(6), _audit(3)) == 6  # duplicates after the mark
        # The agent says 7-9 were dropped at its cap: the mark moves past them.
        assert _send(session, _audit(10), oldest=10) == 10
        session.close()
    # A new stream (reconnect) resending everything changes nothing.
    with agent.channel() as channel:
        session = connect(channel)
        assert _send(session, *[_audit(q) for q in (1, 2, 3, 4, 5, 10)]) == 10
        bad = fleet_pb2.OutboxEvent(seq=11)
        session.send(fleet_pb2.AgentMessage(outbox=fleet_pb2.OutboxBatch(events=[bad])))
        with pytest.raises(grpc.RpcError) as err:
            session.recv_kind("ack")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("outbox.events[0].body")

    with hub.state.db.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.details_json, AuditEvent.actor_kind, AuditEvent.actor_id).where(
                AuditEvent.action == "Deployment.Loaded"
            )
        ).all()
        rollups = conn.execute(select(func.count()).select_from(MetricRollupRow)).scalar_one()
    assert sorted(json.loads(r[0])["agent_seq"] for r in rows) == [1, 2, 3, 4, 5, 10]
    assert {(r[1], r[2]) for r in rows} == {("agent", agent.agent_id)}
    assert rollups == 1
    assert verify_chain(hub.state.db.engine).ok


def test_query_metrics_buckets(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    agent = hub.enrol()
    with agent.channel() as channel:
        session = connect(channel)
        events = [
            _rollup(1, 1, T0, 100, 1.0),
            _rollup(2, 1, T0 + timedelta(seconds=10), 300, 3.0),
            _rollup(3, 2, T0 + timedelta(seconds=20), 50, 9.0),
            _rollup(4, 1, T0 + timedelta(seconds=70), 10, 4.0),
        ]
        assert _send(session, *events) == 4
        session.close()
    got = hub.monitoring.QueryMetrics(
        monitoring_pb2.QueryMetricsRequest(
            deployment="fraud", environment="staging", since=_ts(T0),
            until=_ts(T0 + timedelta(minutes=2)), step_seconds=60,
        ),
        metadata=hub.md(),
    ).points  # fmt: skip
    summary = [
        (p.time.ToDatetime(tzinfo=UTC) - T0, p.model_version, p.requests, p.errors, p.latency_p50)
        for p in got
    ]
    assert summary == [
        (timedelta(0), 1, 400, 2, pytest.approx(2.5)),
        (timedelta(0), 2, 50, 1, pytest.approx(9.0)),
        (timedelta(seconds=60), 1, 10, 1, pytest.approx(4.0)),
    ]
    assert got[0].extra["psi"] == pytest.approx(0.1)
    only_v2 = hub.monitoring.QueryMetrics(
        monitoring_pb2.QueryMetricsRequest(
            deployment="fraud", since=_ts(T0), until=_ts(T0 + timedelta(minutes=2)),
            step_seconds=30, model_version=2,
        ),
        metadata=hub.md(),
    ).points  # fmt: skip
    assert [(p.model_version, p.requests) for p in only_v2] == [(2, 50)]
    with pytest.raises(grpc.RpcError) as err:
        hub.monitoring.QueryMetrics(
            monitoring_pb2.QueryMetricsRequest(
                deployment="fraud", since=_ts(T0), until=_ts(T0 + timedelta(days=30)),
                step_seconds=1,
            ),
            metadata=hub.md(),
        )  # fmt: skip
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("step_seconds")
