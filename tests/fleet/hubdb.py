"""Read-only checks on the hub's database (what the hub stored from the agents)."""

from __future__ import annotations

import orjson
from sqlalchemy import create_engine, text


def agent_audit_seqs(db_url: str, agent_id: str) -> list[int]:
    """`agent_seq` of every audit row an agent's outbox produced (duplicates kept)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT details_json FROM audit_events "
                    "WHERE actor_kind = 'agent' AND actor_id = :agent"
                ),
                {"agent": agent_id},
            ).all()
    finally:
        engine.dispose()
    details = [orjson.loads(r[0]) for r in rows]
    return sorted(int(d["agent_seq"]) for d in details if "agent_seq" in d)


def rollup_count(db_url: str, agent_id: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT COUNT(*) FROM metric_rollups WHERE agent_id = :agent"),
                    {"agent": agent_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def denied_joins(db_url: str) -> list[str]:
    """Reasons of the audited join refusals, oldest first."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT details_json FROM audit_events "
                    "WHERE action LIKE '%Join%' AND outcome = 'denied' ORDER BY seq"
                )
            ).all()
    finally:
        engine.dispose()
    return [str(orjson.loads(r[0]).get("reason", "")) for r in rows]
