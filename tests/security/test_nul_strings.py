"""NUL characters in request strings: refused with INVALID_ARGUMENT naming the field, the
refusal audited, nothing else stored -- on SQLite and on PostgreSQL, whose text columns
cannot hold NUL at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import orjson
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from modelfleet.agent.hub import audit
from modelfleet.agent.hub.access.principal import Call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import AuditEvent
from modelfleet.proto.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    artifacts_pb2,
    artifacts_pb2_grpc,
    auth_pb2,
    registry_pb2,
    registry_pb2_grpc,
    workspaces_pb2,
)
from modelfleet.proto.v1 import tracking_pb2 as pb
from tests.alerts.alerthelp import rule_spec

# tracking's fixture (in-process hub on SQLite and PostgreSQL) with a developer in "ml".
from tests.tracking.conftest import (
    Tracking,
    new_run,
    tracking,  # noqa: F401
)


def _stored(t: Tracking) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except the audit log's."""
    engine = t.hub.engine
    tables = [n for n in inspect(engine).get_table_names() if not n.startswith("audit_")]
    with engine.connect() as conn:
        return {
            name: sorted(map(repr, conn.execute(text(f'SELECT * FROM "{name}"')).all()))
            for name in tables
        }


def _audit_after(t: Tracking, seq: int) -> list[AuditEvent]:
    with Session(t.hub.engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > seq)))


def _last_seq(t: Tracking) -> int:
    with t.hub.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM audit_events")).scalar())


def _status(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


def test_nul_in_request_strings_is_refused_audited_and_stores_nothing(
    tracking: Tracking,  # noqa: F811
) -> None:
    t, hub = tracking, tracking.hub
    run = new_run(t)
    registry = registry_pb2_grpc.RegistryStub(hub.channel)
    alerts = alerts_pb2_grpc.AlertsStub(hub.channel)
    cases: list[tuple[str, str, Callable[[], object]]] = [
        (
            "Registry.CreateModel",
            "name",
            lambda: registry.CreateModel(
                registry_pb2.CreateModelRequest(name="a\x00/../escape"), metadata=t.dev
            ),
        ),
        (
            "Registry.CreateModel",
            "tags['team']",
            lambda: registry.CreateModel(
                registry_pb2.CreateModelRequest(name="ok", tags={"team": "a\x00"}),
                metadata=t.dev,
            ),
        ),
        (
            "Workspaces.CreateWorkspace",
            "name",
            lambda: hub.workspaces.CreateWorkspace(
                workspaces_pb2.CreateWorkspaceRequest(name="ws\x00"), metadata=hub.admin_md()
            ),
        ),
        (
            "Auth.Login",
            "username",
            lambda: hub.auth.Login(auth_pb2.LoginRequest(username="dev\x00", password="x" * 12)),
        ),
        (
            "Tracking.LogBatch",
            "params",
            lambda: t.stub.LogBatch(
                pb.LogBatchRequest(run_id=run, idempotency_key="k1", params={"lr\x00": "0.1"}),
                metadata=t.dev,
            ),
        ),
        (
            "Tracking.LogBatch",
            "metrics[1].key",
            lambda: t.stub.LogBatch(
                pb.LogBatchRequest(
                    run_id=run,
                    idempotency_key="k2",
                    metrics=[pb.MetricPoint(key="a", value=1), pb.MetricPoint(key="\x00")],
                ),
                metadata=t.dev,
            ),
        ),
        (
            "Alerts.CreateRule",
            "spec.name",
            lambda: alerts.CreateRule(
                alerts_pb2.CreateRuleRequest(spec=rule_spec(name="r\x00")), metadata=t.dev
            ),
        ),
        (
            "Alerts.CreateRule",
            "spec.channels[0]",
            lambda: alerts.CreateRule(
                alerts_pb2.CreateRuleRequest(spec=rule_spec(channels=["\x00x"])), metadata=t.dev
            ),
        ),
    ]
    # A client stream's messages are checked as the servicer reads them (bytes never are),
    # so that refusal is the servicer's failure: outcome "error".
    upload = artifacts_pb2_grpc.ArtifactsStub(hub.channel)
    chunks = [artifacts_pb2.UploadChunk(upload_id="u\x00", data=b"\x00" * 64)]
    cases.append(
        ("Artifacts.Upload", "upload_id", lambda: upload.Upload(iter(chunks), metadata=t.dev))
    )
    for action, field, call in cases:
        before, seq = _stored(t), _last_seq(t)
        code, details = _status(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (action, field, code, details)
        assert details.startswith(f"{field}: ") and "NUL" in details, (action, details)
        assert _stored(t) == before, (action, field)
        rows = _audit_after(t, seq)
        outcome = "error" if action == "Artifacts.Upload" else "denied"
        assert [(r.action, r.outcome) for r in rows] == [(action, outcome)], (action, rows)
        assert orjson.loads(rows[0].details_json)["code"] == "INVALID_ARGUMENT"
    # The same strings without the NUL pass the check (and the servicers judge them).
    model = registry.CreateModel(registry_pb2.CreateModelRequest(name="ok"), metadata=t.dev)
    assert model.name == "ok"
    assert audit.verify_chain(hub.engine).ok


def test_audit_writer_escapes_control_characters(tracking: Tracking) -> None:  # noqa: F811
    """Whatever a servicer puts in the target or details, the audit row is stored."""
    call = Call(method="/modelfleet.v1.Registry/CreateModel", action="Registry.CreateModel",
                peer="ipv4:127.0.0.1:1\x00")  # fmt: skip
    seq = _last_seq(tracking)
    tracking.hub.state.db.write_sync(
        lambda s: record(
            s,
            call,
            outcome="error",
            target="model:a\x00\n/" + "\x01" * 300,
            details={"name": "a\x00b", "\x00": 1},
        )
    )
    (row,) = _audit_after(tracking, seq)
    assert row.target.startswith("model:a\\x00\\x0a/\\x01") and len(row.target) == 256
    assert row.source == "ipv4:127.0.0.1:1\\x00"
    assert orjson.loads(row.details_json) == {"name": "a\x00b", "\x00": 1}
    assert audit.verify_chain(tracking.hub.engine).ok
