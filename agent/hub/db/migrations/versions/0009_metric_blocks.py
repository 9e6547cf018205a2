"""metric blocks: per-series min/max/count/last of each 256-step block, for history reads

Revision ID: 0009_metric_blocks
Revises: 0008_tracking_run_keys

Existing points are aggregated into their blocks on the way up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_metric_blocks"
down_revision = "0008_tracking_run_keys"
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Floor division by 256 with the remainder made non-negative first: both backends truncate
# `/` and `%` toward zero, which would put steps -255..255 in one block.
_BLOCK = "(step - ((step % 256) + 256) % 256) / 256"
# Built from constants only (no input reaches it).
_FILL = f"""
INSERT INTO metric_blocks
    (series_id, block, count, min, max, first_step, last_step, last_value, last_timestamp_ms)
SELECT g.series_id, g.block, g.n, g.low, g.high, g.first_step, g.last_step,
    (SELECT p.value FROM metric_points p WHERE p.series_id = g.series_id
        AND p.step = g.last_step ORDER BY p.timestamp_ms DESC LIMIT 1),
    (SELECT max(p.timestamp_ms) FROM metric_points p WHERE p.series_id = g.series_id
        AND p.step = g.last_step)
FROM (SELECT series_id, {_BLOCK} AS block, count(*) AS n, min(value) AS low,
        max(value) AS high, min(step) AS first_step, max(step) AS last_step
      FROM metric_points GROUP BY series_id, {_BLOCK}) g
"""  # noqa: S608


def upgrade() -> None:
    op.create_table(
        "metric_blocks",
        sa.Column("series_id", _KEY, autoincrement=False, nullable=False),
        sa.Column("block", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("last_value", sa.Double(), nullable=False),
        sa.Column("last_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "block"),
    )
    op.execute(_FILL)


def downgrade() -> None:
    op.drop_table("metric_blocks")
