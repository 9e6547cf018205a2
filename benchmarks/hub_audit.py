"""Audit log costs: what an append adds to a write transaction, and chain verification speed.

Prints one JSON line per run with, for SQLite (file, WAL) and PostgreSQL (a scratch
database created and dropped here): milliseconds per write transaction without and with
an audit append, and `verify_chain` rows per second over 100,000 rows.

    python benchmarks/hub_audit.py [--rows 100000] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import Engine, insert, update
from sqlalchemy.engine import make_url

from modelfleet.agent.hub import audit
from modelfleet.agent.hub.db import AuditEvent, AuditHead, Database, Workspace, make_engine, upgrade


def _record(i: int) -> audit.AuditRecord:
    return audit.AuditRecord(
        actor_kind="user",
        actor_id="3f0c9a2d8b7e4c1fa6d5e4c3b2a19080",
        actor_name="ann",
        source="ipv4:10.1.2.3:51234",
        workspace_id="9a8b7c6d5e4f30211203948576abcdef",
        action="Registry.CreateVersion",
        target=f"model:churn/version:{i}",
        outcome="ok",
        details_json=audit.details_json({"version": i, "alias": "staging"}),
        time_us=1_790_000_000_000_000 + i,
    )


def _write_cost_ms(db: Database, n: int, with_audit: bool) -> float:
    with db.writing() as s:
        s.add(Workspace(id="bench", name=f"bench-{secrets.token_hex(3)}"))
    start = time.perf_counter()
    for i in range(n):
        with db.writing() as s:
            s.execute(update(Workspace).where(Workspace.id == "bench").values(description=str(i)))
            if with_audit:
                audit.append(s, _record(i))
    elapsed = (time.perf_counter() - start) / n * 1000
    with db.writing() as s:
        s.query(Workspace).filter(Workspace.id == "bench").delete()
    return elapsed


def _fill_chain(engine: Engine, rows: int) -> None:
    """Append `rows` valid rows quickly (bulk inserts) continuing the current chain."""
    with engine.begin() as conn:
        seq, prev = conn.execute(
            AuditHead.__table__.select().with_only_columns(AuditHead.seq, AuditHead.hash)
        ).one()
        batch: list[dict[str, object]] = []
        for i in range(rows):
            record = _record(i)
            digest = audit.row_hash(prev, record)
            seq += 1
            batch.append(
                {
                    **{k: getattr(record, k) for k in audit.AuditRecord.__slots__},
                    "seq": seq,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
            if len(batch) == 5000:
                conn.execute(insert(AuditEvent), batch)
                batch = []
        if batch:
            conn.execute(insert(AuditEvent), batch)
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))


def measure(url: str, rows: int, writes: int) -> dict[str, float]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        db = Database(engine)
        _write_cost_ms(db, 20, True)  # warm-up
        plain = _write_cost_ms(db, writes, False)
        audited = _write_cost_ms(db, writes, True)
        _fill_chain(engine, rows)
        start = time.perf_counter()
        report = audit.verify_chain(engine)
        seconds = time.perf_counter() - start
        assert report.ok, report
        return {
            "write_ms": round(plain, 3),
            "write_with_audit_ms": round(audited, 3),
            "audit_append_ms": round(audited - plain, 3),
            "verify_rows": report.rows_checked,
            "verify_rows_per_s": round(report.rows_checked / seconds),
        }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    out: dict[str, object] = {"benchmark": "hub_audit"}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'hub.db'}", args.rows, args.writes)
    admin = make_url(args.pg)
    name = f"mf_bench_{secrets.token_hex(4)}"
    connect = {
        "host": admin.host,
        "port": admin.port or 5432,
        "user": admin.username,
        "dbname": admin.database,
        "autocommit": True,
    }
    with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        out["postgresql"] = measure(
            admin.set(database=name).render_as_string(hide_password=False), args.rows, args.writes
        )
    finally:
        with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
