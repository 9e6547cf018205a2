"""Traffic splits of a deployment: which version serves a request, at random or sticky by key."""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: finds the value of a request key (HTTP header or gRPC metadata, lower-case name)
KeyLookup = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Split:
    """Versions with cumulative weights; immutable so a switch is one reference swap."""

    versions: tuple[str, ...]
    bounds: tuple[int, ...]
    sticky_key: str = ""

    @classmethod
    def of(cls, weights: Sequence[tuple[str, int]], sticky_key: str = "") -> Split:
        """A split over (version, weight) pairs; zero weights are left out."""
        kept = [(v, w) for v, w in weights if w > 0]
        if not kept:
            raise ValueError("a traffic split needs at least one version with a positive weight")
        bounds, total = [], 0
        for _, weight in kept:
            total += weight
            bounds.append(total)
        return cls(tuple(v for v, _ in kept), tuple(bounds), sticky_key.lower())

    def pick(self, key_of: KeyLookup | None = None) -> str:
        """The version for one request: by hash of the sticky key's value, else at random."""
        if len(self.versions) == 1:
            return self.versions[0]
        total = self.bounds[-1]
        value = key_of(self.sticky_key) if self.sticky_key and key_of is not None else None
        if value is None:
            point = random.randrange(total)  # noqa: S311 - load spreading, not secrecy
        else:
            digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
            point = int.from_bytes(digest, "big") % total
        return self.versions[bisect_right(self.bounds, point)]

    def percent(self, version: str) -> int:
        """Share of `version` in whole percent (0 when absent)."""
        if version not in self.versions:
            return 0
        index = self.versions.index(version)
        low = self.bounds[index - 1] if index else 0
        return round(100 * (self.bounds[index] - low) / self.bounds[-1])
