"""Engines and units of work: SQLite (WAL, foreign keys, immediate write locks) or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

T = TypeVar("T")

_WRITE_OPTION = "modelfleet_write"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip per unit of work; a connection the server dropped
    # fails one call, is invalidated, and the pool replaces it (recycling keeps that rare).
    return create_engine(url, pool_recycle=1800, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so BEGIN IMMEDIATE can be chosen.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock before it reads (the audit chain head), so two
        # writers queue instead of failing with SQLITE_BUSY on lock upgrade.
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Units of work over one engine; the async variants run in worker threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{_WRITE_OPTION: True})
        # PostgreSQL reads run without BEGIN/COMMIT: two round trips fewer per read call.
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session in a write transaction, committed on success."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; on PostgreSQL each statement sees its own snapshot."""
        with Session(self._reader, expire_on_commit=False) as session, session.begin():
            yield session

    def write_sync(self, fn: Callable[[Session], T]) -> T:
        with self.writing() as session:
            return fn(session)

    def read_sync(self, fn: Callable[[Session], T]) -> T:
        with self.reading() as session:
            return fn(session)

    async def write(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.write_sync, fn)

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.read_sync, fn)

    def dispose(self) -> None:
        self.engine.dispose()
