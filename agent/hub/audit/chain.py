"""The hash chain: canonical row bytes, serialised appends and the chain walk.

`hash = SHA-256(prev_hash || canonical JSON of the row)`. `seq` is not hashed: it is the
position, checked by the chain links and by the head row, which every append locks
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite writers hold the database write lock), so
appends from several hub replicas queue and each commits with the change it records.
On PostgreSQL the server computes the hash in the same statement (one round trip).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.models import AuditEvent, AuditHead

GENESIS = "0" * 64
_SECRET_WORDS = ("password", "secret", "token")
# C0 controls in the plain columns are stored escaped (`\x00`): PostgreSQL text cannot hold
# NUL, and a raw newline or escape sequence would forge lines in whatever displays the log.
_CONTROL = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    actor_kind: str
    actor_id: str
    actor_name: str
    source: str
    workspace_id: str
    action: str
    target: str
    outcome: str
    details_json: str = "{}"
    time_us: int = 0


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    rows_checked: int
    first_bad_seq: int = 0
    # "", "edited", "deleted", "inserted" or "reordered".
    problem: str = ""


def details_json(details: Mapping[str, Any]) -> str:
    """Canonical JSON of `details`, with anything named like a secret blanked out."""
    return orjson.dumps(_scrub(details), option=orjson.OPT_SORT_KEYS).decode()


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            str(k): "[redacted]" if any(w in str(k).lower() for w in _SECRET_WORDS) else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _canonical(
    time_us: int,
    actor_kind: str,
    actor_id: str,
    actor_name: str,
    source: str,
    workspace_id: str,
    action: str,
    target: str,
    outcome: str,
    details: str,
) -> bytes:
    # Keys in sorted order, so this is the canonical (sorted-key, compact) JSON.
    return orjson.dumps(
        {
            "action": action,
            "actor_id": actor_id,
            "actor_kind": actor_kind,
            "actor_name": actor_name,
            "details": details,
            "outcome": outcome,
            "source": source,
            "target": target,
            "time_us": time_us,
            "workspace_id": workspace_id,
        }
    )


def row_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + _body(record)).hexdigest()


def _body(record: AuditRecord) -> bytes:
    return _canonical(
        record.time_us,
        record.actor_kind,
        record.actor_id,
        record.actor_name,
        record.source,
        record.workspace_id,
        record.action,
        record.target,
        record.outcome,
        record.details_json,
    )


_HEAD = cast(Table, AuditHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
# Widths of the plain columns the caller fills: an escaped value is cut to fit, never refused.
_WIDTHS: dict[str, int] = {
    name: length
    for name in AuditRecord.__slots__
    if (length := getattr(_EVENTS.c[name].type, "length", None))
}
# Built once: appends run on every mutating call, so they skip per-call statement building.
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_EVENT = insert(_EVENTS)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
# PostgreSQL: one round trip. The row's canonical JSON does not depend on the previous
# hash, so the server can lock the head, hash `prev_hash || body` (same bytes as
# `row_hash`) and insert, all in one statement.
_APPEND_PG = text(
    """
WITH old AS (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE),
moved AS (
  UPDATE audit_head SET seq = old.seq + 1,
    hash = encode(sha256(convert_to(old.hash || :body, 'UTF8')), 'hex')
  FROM old WHERE audit_head.id = 1
  RETURNING audit_head.seq, audit_head.hash, old.hash AS prev_hash
)
INSERT INTO audit_events (seq, time_us, actor_kind, actor_id, actor_name, source,
  workspace_id, action, target, outcome, details_json, prev_hash, hash)
SELECT moved.seq, :time_us, :actor_kind, :actor_id, :actor_name, :source, :workspace_id,
  :action, :target, :outcome, :details_json, moved.prev_hash, moved.hash FROM moved
RETURNING seq
"""
)


def append(session: Session, record: AuditRecord) -> int:
    """Append `record` in the session's transaction; returns its seq.

    Control characters in the plain columns are escaped and over-long values cut to the
    column, so no input a caller sent can keep its audit row from being stored.
    """
    if not record.time_us:
        record = _with_time(record)
    record = _storable(record)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        body = _body(record).decode()
        return int(conn.execute(_APPEND_PG, {**_fields(record), "body": body}).scalar_one())
    head_seq, head_hash = conn.execute(_LOCK_HEAD).one()
    seq = head_seq + 1
    digest = row_hash(head_hash, record)
    conn.execute(
        _INSERT_EVENT, {**_fields(record), "seq": seq, "prev_hash": head_hash, "hash": digest}
    )
    conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    return int(seq)


def _storable(record: AuditRecord) -> AuditRecord:
    values: list[str] = [getattr(record, name) for name in _WIDTHS]
    # One search over all columns: appends run on every mutating call.
    if not _CONTROL.search("".join(values)) and all(
        len(v) <= w for v, w in zip(values, _WIDTHS.values(), strict=True)
    ):
        return record
    fixed = {
        name: _CONTROL.sub(_escape, value)[:width]
        for (name, width), value in zip(_WIDTHS.items(), values, strict=True)
    }
    return AuditRecord(**{**_fields(record), **fixed})


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _with_time(record: AuditRecord) -> AuditRecord:
    return AuditRecord(**{**_fields(record), "time_us": time.time_ns() // 1000})


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in AuditRecord.__slots__}


_WALK_SQL = (
    "SELECT seq, time_us, actor_kind, actor_id, actor_name, source, workspace_id, action,"
    " target, outcome, details_json, prev_hash, hash FROM audit_events ORDER BY seq"
)


def verify_chain(engine: Engine, *, batch_size: int = 5_000) -> ChainReport:
    """Walk the whole log in seq order and name the first row that breaks the chain.

    Streams plain DBAPI tuples (a server-side cursor on PostgreSQL): at 100,000+ rows a
    second, per-row ORM or Row objects would cost more than the hashing.
    """
    sha256 = hashlib.sha256
    dumps = orjson.dumps
    with engine.connect() as conn:
        head_seq, head_hash = conn.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
        ).one()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        postgres = conn.dialect.name == "postgresql"
        # Binary transfer parses the integer columns faster on PostgreSQL.
        cursor: Any = raw.cursor(name="audit_walk", binary=True) if postgres else raw.cursor()
        if postgres:
            cursor.itersize = batch_size
        cursor.execute(_WALK_SQL)
        rows = iter(cursor)
        prev_hash, prev_seq, checked = GENESIS, 0, 0
        row = next(rows, None)
        while row is not None:
            nxt = next(rows, None)
            seq, t, kind, aid, aname, src, ws, action, target, outcome, det, phash, h = row
            if seq > head_seq:
                return ChainReport(False, checked, seq, "inserted")
            body = dumps(
                {
                    "action": action,
                    "actor_id": aid,
                    "actor_kind": kind,
                    "actor_name": aname,
                    "details": det,
                    "outcome": outcome,
                    "source": src,
                    "target": target,
                    "time_us": t,
                    "workspace_id": ws,
                }
            )
            content_ok = sha256(phash.encode() + body).hexdigest() == h
            if not (content_ok and phash == prev_hash and seq == prev_seq + 1):
                cursor.close()
                at, problem = _classify(conn, row, nxt, prev_hash, prev_seq, content_ok)
                return ChainReport(False, checked, at, problem)
            prev_hash, prev_seq, checked = h, seq, checked + 1
            row = nxt
        cursor.close()
        if prev_seq != head_seq or prev_hash != head_hash:
            return ChainReport(False, checked, prev_seq + 1, "deleted")
    return ChainReport(True, checked)


def _classify(
    conn: Connection,
    row: tuple[Any, ...],
    nxt: tuple[Any, ...] | None,
    prev_hash: str,
    prev_seq: int,
    content_ok: bool,
) -> tuple[int, str]:
    """Why `row` breaks the chain (only runs once, at the first break)."""
    seq, phash = row[0], row[11]
    linked = None
    if phash != prev_hash:
        linked = conn.execute(select(AuditEvent.seq).where(AuditEvent.hash == phash)).scalar()
        if linked is not None and linked > seq:
            return seq, "reordered"
    if nxt is not None and nxt[11] == prev_hash:
        # The next row links straight to this row's predecessor: this one was slipped in.
        return seq, "inserted"
    if not content_ok:
        return seq, "edited"
    if phash == prev_hash:
        # Links intact but numbering skips: rows were taken out and the chain re-linked.
        return prev_seq + 1, "deleted"
    if linked is not None and linked < prev_seq:
        return linked + 1, "inserted"
    if seq != prev_seq + 1:
        return prev_seq + 1, "deleted"
    # The row before was changed and re-hashed: its successor still names the old hash.
    return max(prev_seq, 1), "edited"
