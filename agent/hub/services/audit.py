"""Audit servicer: query with cursor pages, export as JSON Lines or CSV, verify the chain."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator

import orjson
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import audit, validation
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import AuditEvent
from modelfleet.agent.hub.errors import Context, InvalidArgument
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.services.users import page_size
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import audit_pb2, audit_pb2_grpc

EXPORT_COLUMNS = [c.name for c in AuditEvent.__table__.columns]
_EXPORT_BATCH = 2000
_OUTCOMES = ("ok", "denied", "error")


class AuditServicer(audit_pb2_grpc.AuditServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def QueryAudit(
        self, request: audit_pb2.QueryAuditRequest, context: Context
    ) -> audit_pb2.QueryAuditResponse:
        conditions = _conditions(current_call(), request.filter)
        size = page_size(request.page.page_size)
        if request.page.page_token:
            cursor = _cursor(request.page.page_token)
            conditions.append(
                AuditEvent.seq > cursor if request.oldest_first else AuditEvent.seq < cursor
            )
        order = AuditEvent.seq.asc() if request.oldest_first else AuditEvent.seq.desc()

        def query(s: Session) -> list[AuditEvent]:
            return list(
                s.scalars(select(AuditEvent).where(*conditions).order_by(order).limit(size + 1))
            )

        rows = await self._hub.db.read(query)
        more = len(rows) > size
        rows = rows[:size]
        return audit_pb2.QueryAuditResponse(
            events=[convert.audit_event(r) for r in rows],
            next_page_token=str(rows[-1].seq) if more else "",
        )

    async def ExportAudit(
        self, request: audit_pb2.ExportAuditRequest, context: Context
    ) -> AsyncIterator[audit_pb2.ExportAuditChunk]:
        call = current_call()
        fmt = request.format or "jsonl"
        if fmt not in ("jsonl", "csv"):
            raise InvalidArgument("format", '"jsonl" or "csv"', got=repr(fmt[:16]))
        conditions = _conditions(call, request.filter)
        await self._hub.db.write(lambda s: record(s, call, details={"format": fmt}))
        if fmt == "csv":
            yield audit_pb2.ExportAuditChunk(data=_csv_line(EXPORT_COLUMNS))
        after = 0
        while True:
            batch = await self._hub.db.read(lambda s, a=after: _export_batch(s, conditions, a))  # type: ignore[misc]
            if not batch:
                return
            after = int(batch[-1][0])  # type: ignore[call-overload]
            yield audit_pb2.ExportAuditChunk(data=b"".join(_encode(fmt, batch)))

    async def VerifyAudit(
        self, request: audit_pb2.VerifyAuditRequest, context: Context
    ) -> audit_pb2.VerifyAuditResponse:
        report = await asyncio.to_thread(audit.verify_chain, self._hub.db.engine)
        return audit_pb2.VerifyAuditResponse(
            ok=report.ok,
            rows_checked=report.rows_checked,
            first_bad_seq=report.first_bad_seq,
            problem=report.problem,
        )


def _conditions(call: Call, f: audit_pb2.AuditFilter) -> list[ColumnElement[bool]]:
    """Filters of a query; scoped to the workspace named in the metadata, if any."""
    out: list[ColumnElement[bool]] = []
    if call.workspace is not None:
        out.append(AuditEvent.workspace_id == call.workspace.id)
    if f.HasField("since"):
        out.append(AuditEvent.time_us >= f.since.ToMicroseconds())
    if f.HasField("until"):
        out.append(AuditEvent.time_us < f.until.ToMicroseconds())
    if f.actor:
        validation.text("filter.actor", f.actor, 128)
        out.append(or_(AuditEvent.actor_name == f.actor, AuditEvent.actor_id == f.actor))
    if f.action:
        out.append(AuditEvent.action == validation.text("filter.action", f.action, 128))
    if f.target:
        out.append(AuditEvent.target == validation.text("filter.target", f.target, 256))
    if f.outcome:
        if f.outcome not in _OUTCOMES:
            raise InvalidArgument(
                "filter.outcome", '"ok", "denied" or "error"', got=repr(f.outcome[:16])
            )
        out.append(AuditEvent.outcome == f.outcome)
    return out


def _cursor(token: str) -> int:
    if not token.isdigit() or len(token) > 19:
        raise InvalidArgument("page.page_token", "a token from a previous response")
    return int(token)


def _export_batch(
    s: Session, conditions: list[ColumnElement[bool]], after: int
) -> list[tuple[object, ...]]:
    columns = [AuditEvent.__table__.c[name] for name in EXPORT_COLUMNS]
    query = (
        select(*columns)
        .where(*conditions, AuditEvent.seq > after)
        .order_by(AuditEvent.seq)
        .limit(_EXPORT_BATCH)
    )
    return [tuple(row) for row in s.execute(query).all()]


def _encode(fmt: str, rows: list[tuple[object, ...]]) -> Iterator[bytes]:
    if fmt == "csv":
        for row in rows:
            yield _csv_line(row)
    else:
        for row in rows:
            yield orjson.dumps(dict(zip(EXPORT_COLUMNS, row, strict=True))) + b"\n"


def _csv_line(values: list[str] | tuple[object, ...]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()
