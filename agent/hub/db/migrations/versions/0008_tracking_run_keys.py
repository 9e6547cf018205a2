"""tracking run keys: integer runs.seq copied as run_seq into summaries, params and tags

Revision ID: 0008_tracking_run_keys
Revises: 0007_signin_security

Existing rows are numbered in place: PostgreSQL fills the identity column itself, SQLite
takes each run's rowid. Columns are added with ALTER TABLE only: on SQLite a batch
rebuild of `runs` would drop the old table, and that DELETE cascades to every child row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_tracking_run_keys"
down_revision = "0007_signin_security"
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CHILDREN = ("metric_series", "run_params", "run_tags")
_NEW_INDEXES = {
    "metric_series": (
        ("ix_metric_series_key_last_seq", ["key", "last", "run_seq"]),
        ("ix_metric_series_seq_key", ["run_seq", "key", "last"]),
    ),
    "run_params": (
        ("ix_run_params_key_value_seq", ["key", "value", "run_seq"]),
        ("ix_run_params_key_num_seq", ["key", "value_num", "run_seq"]),
    ),
    "run_tags": (("ix_run_tags_key_value_seq", ["key", "value", "run_seq"]),),
}
_UNIQUE_INDEXES = {"run_params": "ix_run_params_seq_key", "run_tags": "ix_run_tags_seq_key"}
_OLD_INDEXES = {
    "metric_series": ("ix_metric_series_key_last", ["key", "last", "run_id"]),
    "run_params": ("ix_run_params_key_value", ["key", "value", "run_id"]),
    "run_tags": ("ix_run_tags_key_value", ["key", "value", "run_id"]),
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.add_column("runs", sa.Column("seq", _KEY, nullable=False, server_default="0"))
        op.execute("UPDATE runs SET seq = rowid")
    else:
        op.add_column("runs", sa.Column("seq", _KEY, sa.Identity(), nullable=False))
    op.create_index("ix_runs_seq", "runs", ["seq"], unique=True)
    for table in _CHILDREN:
        op.add_column(table, sa.Column("run_seq", _KEY, nullable=False, server_default="0"))
        # Table names come from _CHILDREN above, never from input.
        number = f"SELECT runs.seq FROM runs WHERE runs.id = {table}.run_id"  # noqa: S608
        op.execute(f"UPDATE {table} SET run_seq = ({number})")  # noqa: S608
        if not sqlite:
            op.alter_column(table, "run_seq", server_default=None)
        for name, columns in _NEW_INDEXES.get(table, ()):
            op.create_index(name, table, columns)
        if table in _UNIQUE_INDEXES:
            op.create_index(_UNIQUE_INDEXES[table], table, ["run_seq", "key"], unique=True)
        op.drop_index(_OLD_INDEXES[table][0], table_name=table)
    op.drop_index("ix_run_params_key_num", table_name="run_params")


def downgrade() -> None:
    op.create_index("ix_run_params_key_num", "run_params", ["key", "value_num", "run_id"])
    for table in _CHILDREN:
        name, columns = _OLD_INDEXES[table]
        op.create_index(name, table, columns)
        for name, _ in _NEW_INDEXES.get(table, ()):
            op.drop_index(name, table_name=table)
        if table in _UNIQUE_INDEXES:
            op.drop_index(_UNIQUE_INDEXES[table], table_name=table)
        # Plain ALTER TABLE on SQLite too (3.35+), for the same reason as on the way up.
        op.execute(f"ALTER TABLE {table} DROP COLUMN run_seq")
    op.drop_index("ix_runs_seq", table_name="runs")
    op.execute("ALTER TABLE runs DROP COLUMN seq")
