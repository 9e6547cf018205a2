"""A small per-replica cache for what searches look up again and again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Values loaded on demand and kept for `ttl` seconds (at most MAX of them).

    Loads run in worker threads: two may load the same key at once, and the later one
    is kept; either is a valid value."""

    MAX = 10_000

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._kept: dict[K, tuple[float, V]] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self._ttl:
            return kept[1]
        value = load()
        if len(self._kept) >= self.MAX:
            self._kept.clear()
        self._kept[key] = (now, value)
        return value

    def forget(self, key: K) -> None:
        self._kept.pop(key, None)
