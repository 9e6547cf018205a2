"""Numpy ring buffers holding one metric series each, viewable without copying."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Columns of a series row.
TIME, THROUGHPUT, P50, P95, P99, ERRORS = range(6)
COLUMNS = 6


class RingBuffer:
    """Fixed-capacity rows of floats stored column-major; reading never copies.

    Every row is written twice (at i and i + capacity), so the newest `capacity` rows are
    always contiguous: appends are O(1), and `column(i)` is a contiguous numpy view that
    charts take as is.
    """

    def __init__(self, capacity: int, columns: int = COLUMNS) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._data = np.full((columns, 2 * capacity), np.nan)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, row: FloatArray | list[float]) -> None:
        self._data[:, self._next] = row
        self._data[:, self._next + self.capacity] = row
        self._next = (self._next + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def extend(self, rows: FloatArray) -> None:
        """Append rows of shape (n, columns) at once; keeps the newest `capacity`."""
        cols = rows[-self.capacity :].T
        n = cols.shape[1]
        first = min(n, self.capacity - self._next)
        for offset in (0, self.capacity):
            start = self._next + offset
            self._data[:, start : start + first] = cols[:, :first]
            self._data[:, offset : offset + n - first] = cols[:, first:]
        self._next = (self._next + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def columns(self) -> FloatArray:
        """Shape (columns, len(self)), oldest first; a view, valid until the next append."""
        end = self._next + self.capacity
        return self._data[:, end - self._size : end]

    def column(self, index: int) -> FloatArray:
        column: FloatArray = self.columns()[index]
        return column


def peak_envelope(columns: FloatArray, max_points: int) -> FloatArray:
    """Columns (first one time) reduced to <= `max_points` samples keeping each bucket's
    minimum and maximum, so spikes survive (pyqtgraph's "peak" downsampling, done once)."""
    n = columns.shape[1]
    if n <= max_points:
        return columns.copy()
    size = -(-2 * n // max_points)  # two output points per bucket
    buckets = n // size
    body = columns[:, : buckets * size].reshape(columns.shape[0], buckets, size)
    out = np.empty((columns.shape[0], 2 * buckets))
    out[0] = np.repeat(body[0, :, 0], 2)
    out[1:, 0::2] = body[1:].min(axis=2)
    out[1:, 1::2] = body[1:].max(axis=2)
    tail = columns[:, buckets * size :]
    return np.concatenate([out, tail], axis=1)
