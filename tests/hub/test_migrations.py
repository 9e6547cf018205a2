"""Schema migrations: from empty to head, down to base and back, matching the ORM models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from modelfleet.agent.hub.db import (
    Base,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)


def test_upgrade_downgrade_round_trip(hub_db_url: str) -> None:
    engine = make_engine(hub_db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            # The models and the migrations describe the same schema.
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
        upgrade(engine)
        upgrade(engine)  # idempotent
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_every_foreign_key_is_indexed(hub_db_url: str) -> None:
    engine = make_engine(hub_db_url)
    try:
        upgrade(engine)
        inspector = inspect(engine)
        for table in Base.metadata.tables:
            indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
            pk = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
            for fk in inspector.get_foreign_keys(table):
                cols = tuple(fk["constrained_columns"])
                covered = any(ix[: len(cols)] == cols for ix in indexed) or pk[: len(cols)] == cols
                assert covered, f"{table}.{cols} has no index"
    finally:
        engine.dispose()
