"""The agent's local SQLite (WAL, fsync on commit): desired state and the durable outbox."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

AUDIT = "audit"
ROLLUP = "rollup"
DEFAULT_ROLLUP_CAP = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS desired (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS serving (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind_seq ON outbox (kind, seq);
"""


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One outbox row: its sequence number (the idempotency key with the agent id) and body."""

    seq: int
    kind: str
    body: bytes


class StateStore:
    """Thread-safe; every write is one transaction that is on disk when the call returns.

    Audit events are never dropped. Roll-ups beyond `rollup_cap` drop oldest-first while
    the hub is away, and the number dropped is kept for the heartbeat.
    """

    def __init__(self, path: Path, rollup_cap: int = DEFAULT_ROLLUP_CAP) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rollup_cap = rollup_cap
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is fsynced before it returns, so `kill -9` or power loss keeps it.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- desired state ------------------------------------------------------------------
    def save_desired(self, revision: int, body: bytes) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO desired (id, revision, body) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, body = excluded.body",
                (revision, body),
            )

    def load_desired(self) -> tuple[int, bytes] | None:
        with self._lock:
            row = self._db.execute("SELECT revision, body FROM desired WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def save_serving(self, revision: int, body: bytes) -> None:
        """The last desired state that was applied with every version ready."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO serving (id, revision, body) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, body = excluded.body",
                (revision, body),
            )

    def load_serving(self) -> tuple[int, bytes] | None:
        with self._lock:
            row = self._db.execute("SELECT revision, body FROM serving WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    # -- outbox -------------------------------------------------------------------------
    def append(self, kind: str, body: bytes) -> int:
        """Queue one event; returns its sequence number (never reused, even after deletes)."""
        return self.append_many(kind, [body])[-1]

    def append_many(self, kind: str, bodies: list[bytes]) -> list[int]:
        if kind not in (AUDIT, ROLLUP):
            raise ValueError(f"outbox kind must be {AUDIT!r} or {ROLLUP!r}, got {kind!r}")
        with self._lock, self._db:
            seqs = []
            for body in bodies:
                cursor = self._db.execute(
                    "INSERT INTO outbox (kind, body) VALUES (?, ?)", (kind, body)
                )
                seqs.append(int(cursor.lastrowid or 0))
            if kind == ROLLUP:
                self._enforce_cap()
        return seqs

    def _enforce_cap(self) -> None:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM outbox WHERE kind = ?", (ROLLUP,)
        ).fetchone()
        excess = int(count) - self.rollup_cap
        if excess > 0:
            self._db.execute(
                "DELETE FROM outbox WHERE seq IN "
                "(SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?)",
                (ROLLUP, excess),
            )
            self._bump("rollups_dropped", excess)

    def pending(self, after_seq: int = 0, limit: int = 500) -> list[PendingEvent]:
        """Unacknowledged events with seq > after_seq, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [PendingEvent(int(s), str(k), bytes(b)) for s, k, b in rows]

    def acknowledge(self, committed_seq: int) -> int:
        """The hub committed everything up to `committed_seq`: forget it. Returns rows removed."""
        with self._lock, self._db:
            cursor = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (committed_seq,))
            return cursor.rowcount

    def oldest_pending(self) -> int:
        """The lowest unacknowledged seq (0 when none): seqs below it were delivered or dropped."""
        with self._lock:
            (oldest,) = self._db.execute("SELECT MIN(seq) FROM outbox").fetchone()
        return int(oldest or 0)

    def pending_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def rollups_dropped(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = 'rollups_dropped'"
            ).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, key: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
            (key, by),
        )
