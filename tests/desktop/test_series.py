"""Ring buffers: order, wrap-around, bulk extend, zero-copy contiguous columns."""

from __future__ import annotations

import numpy as np
import pytest

from modelfleet.desktop.series import RingBuffer


def test_append_keeps_newest_rows_in_order_across_wraps():
    ring = RingBuffer(capacity=5, columns=2)
    for i in range(13):
        ring.append([i, -i])
        expected = np.arange(max(0, i - 4), i + 1, dtype=float)
        assert np.array_equal(ring.column(0), expected)
        assert np.array_equal(ring.column(1), -expected)
    assert len(ring) == 5


@pytest.mark.parametrize("start", [0, 3, 7])
@pytest.mark.parametrize("count", [1, 4, 10, 25])
def test_extend_matches_appending_one_by_one(start, count):
    rows = np.arange(2 * (start + count), dtype=float).reshape(-1, 2)
    one_by_one, bulk = RingBuffer(10, 2), RingBuffer(10, 2)
    for row in rows[:start]:
        one_by_one.append(row)
        bulk.append(row)
    for row in rows[start:]:
        one_by_one.append(row)
    bulk.extend(rows[start:])
    assert np.array_equal(one_by_one.columns(), bulk.columns())


def test_columns_are_contiguous_views():
    ring = RingBuffer(4, 3)
    for i in range(6):
        ring.append([i, i, i])
    column = ring.column(2)
    assert column.flags["C_CONTIGUOUS"] and np.shares_memory(column, ring._data)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        RingBuffer(0)
