"""Traffic-split checks: 1-4 distinct versions, percents 0-100 summing to exactly 100."""

from __future__ import annotations

from collections.abc import Sequence

from modelfleet.agent.hub.deployments.spec import MAX_TARGETS
from modelfleet.agent.hub.errors import InvalidArgument


def check_split(split: Sequence[tuple[int, int]], field: str = "split") -> None:
    """`split` is (model_version, percent) pairs; raise INVALID_ARGUMENT naming the bad entry."""
    if not 1 <= len(split) <= MAX_TARGETS:
        raise InvalidArgument(field, f"1-{MAX_TARGETS} versions", got=str(len(split)))
    seen: set[int] = set()
    for i, (version, percent) in enumerate(split):
        if version <= 0:
            raise InvalidArgument(f"{field}[{i}].model_version", "a version number >= 1")
        if version in seen:
            raise InvalidArgument(
                f"{field}[{i}].model_version", "each version once", got=f"version {version} again"
            )
        seen.add(version)
        if not 0 <= percent <= 100:
            raise InvalidArgument(f"{field}[{i}].percent", "0-100", got=str(percent))
    total = sum(p for _, p in split)
    if total != 100:
        raise InvalidArgument(f"{field}", "percents summing to 100", got=f"sum {total}")
