"""Traffic splits: proportions, stickiness by request key, atomic switches."""

from __future__ import annotations

from collections import Counter

import pytest

from modelfleet.agent.node.routing import Split


def test_random_split_follows_the_weights() -> None:
    split = Split.of([("3", 90), ("4", 10)])
    picks = Counter(split.pick() for _ in range(20_000))
    assert abs(picks["4"] / 20_000 - 0.10) < 0.015
    assert split.percent("3") == 90 and split.percent("4") == 10 and split.percent("5") == 0


def test_sticky_key_pins_a_caller_and_spreads_callers() -> None:
    split = Split.of([("1", 50), ("2", 50)], sticky_key="X-User")
    headers = {"x-user": "alice"}
    first = split.pick(headers.get)
    assert all(split.pick(headers.get) == first for _ in range(100))
    spread = Counter(split.pick({"x-user": f"user-{i}"}.get) for i in range(4000))
    assert abs(spread["1"] / 4000 - 0.5) < 0.05
    # Without the key the request is routed at random, not refused.
    assert split.pick({}.get) in ("1", "2")


def test_zero_weights_are_left_out_and_an_empty_split_refused() -> None:
    assert Split.of([("1", 0), ("2", 100)]).versions == ("2",)
    with pytest.raises(ValueError, match="positive weight"):
        Split.of([("1", 0)])
