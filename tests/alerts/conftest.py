"""Alerting fixtures: an in-process hub whose alert tasks run (short intervals), real SMTP and
HTTP receivers, a captured hub log, and helpers writing monitoring roll-ups and agents.

Roll-ups are written straight into the hub's `metric_rollups` table, the table the fleet's
outbox ingestion fills, so evaluation reads exactly what it reads in production.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from modelfleet.agent.hub.db import Workspace
from modelfleet.agent.hub.db.fleet_models import Agent, MetricRollupRow
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.proto.v1 import alerts_pb2_grpc
from tests.alerts.receivers import HttpReceiver, SmtpReceiver, self_signed
from tests.client.conftest import private_data_dir
from tests.hub.conftest import TEST_SETTINGS, Hub, _ServerThread, start_hub

ALERT_SETTINGS = dataclasses.replace(
    TEST_SETTINGS,
    alert_eval_interval=0.1,
    alert_retry_base=0.2,
    alert_retry_max=0.5,
    alert_delivery_attempts=8,
    outbound_timeout=3.0,
    # Test receivers listen on 127.0.0.1: the explicit per-hub opening for them.
    outbound_allowed_networks="127.0.0.1/32",
)
SMTP_PASSWORD = "smtp-password-Q9x7"


@dataclass
class AlertHub:
    hub: Hub
    server: _ServerThread
    workspace_id: str
    agent_id: str
    log: io.StringIO

    @property
    def alerts(self) -> alerts_pb2_grpc.AlertsStub:
        return alerts_pb2_grpc.AlertsStub(self.hub.channel)

    @property
    def channels(self) -> alerts_pb2_grpc.ChannelsStub:
        return alerts_pb2_grpc.ChannelsStub(self.hub.channel)

    @property
    def md(self) -> list[tuple[str, str]]:
        return self.hub.admin_md("default")

    def rollup(
        self,
        *,
        deployment: str = "churn",
        environment: str = "prod",
        requests: int = 100,
        errors: int = 0,
        p95: float = 10.0,
        extra: dict[str, float] | None = None,
        at: datetime | None = None,
    ) -> None:
        row = MetricRollupRow(
            workspace_id=self.workspace_id, agent_id=self.agent_id, environment=environment,
            deployment=deployment, model_name="churn", model_version=1,
            window_start=at or datetime.now(UTC), window_seconds=10, requests=requests,
            errors=errors, latency_p50=p95 / 2, latency_p95=p95, latency_p99=p95 * 1.5,
            latency_mean=p95 / 2, batch_size_mean=1.0,
            extra_json=orjson.dumps(extra or {}).decode(),
        )  # fmt: skip
        self.hub.state.db.write_sync(lambda s: s.add(row))


def add_agent(hub: Hub, workspace_id: str, *, last_seen: datetime | None = None) -> str:
    agent = Agent(
        workspace_id=workspace_id, environment="prod", hostname="node-1",
        certificate_expires_at=datetime.now(UTC) + timedelta(days=1),
        last_seen=last_seen or datetime.now(UTC),
    )  # fmt: skip
    hub.state.db.write_sync(lambda s: s.add(agent))
    return agent.id


def open_alert_hub(data_dir: Path, db_url: str, settings: HubSettings) -> AlertHub:
    server, hub = start_hub(data_dir, db_url, settings)
    runtime = hub.state.alerts
    assert runtime is not None

    async def start() -> None:
        runtime.start()

    server._run(start())
    ws_id = hub.state.db.read_sync(
        lambda s: s.scalars(select(Workspace.id).where(Workspace.name == "default")).one()
    )
    return AlertHub(hub, server, ws_id, add_agent(hub, ws_id), io.StringIO())


def close_alert_hub(ah: AlertHub) -> None:
    runtime = ah.hub.state.alerts
    assert runtime is not None
    ah.server._run(runtime.close())
    ah.hub.channel.close()
    ah.server.stop()
    ah.hub.state.db.dispose()


@pytest.fixture
def alert_hub(hub_db_url: str, tmp_path: Path) -> Iterator[AlertHub]:
    # Everything the hub logs, at every level, for the never-logs-a-secret checks.
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # gRPC's event-loop chatter says nothing about requests; everything else stays at DEBUG.
    logging.getLogger("grpc._cython").setLevel(logging.INFO)
    ah = open_alert_hub(tmp_path / "hub", hub_db_url, ALERT_SETTINGS)
    ah.log = buffer
    try:
        yield ah
    finally:
        close_alert_hub(ah)
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    cert, key, _ = self_signed(tmp_path)
    receiver = SmtpReceiver(cert, key, SMTP_PASSWORD)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


__all__ = ["private_data_dir"]
