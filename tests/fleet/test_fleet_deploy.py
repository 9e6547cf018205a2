"""End to end with real processes: one hub, three enrolled agents on loopback. Deploy reaches
matching agents only; a 90/10 canary holds over 10,000 requests; sticky keys pin callers;
rollback under continuous load fails no request."""

from __future__ import annotations

import threading
from collections import Counter

from tests.fleet.conftest import EnrolAgent
from tests.fleet.fleethelp import Admin, wait_for

SETTLE_S = 30.0


def test_deploy_canary_sticky_and_rollback_under_load(
    admin: Admin, enrol_agent: EnrolAgent
) -> None:
    staging = enrol_agent("staging", "staging").start()
    eu = enrol_agent("eu", "production", {"region": "eu"}).start()
    us = enrol_agent("us", "production", {"region": "us"}).start()

    admin.deploy("fraud", "production", "credit", 1, selector="region=eu")
    wait_for(lambda: eu.serving("fraud", "1"), SETTLE_S, "v1 on the eu agent")
    assert us.infer("fraud")[0] == 404
    assert staging.infer("fraud")[0] == 404
    status, version, body = eu.infer("fraud")
    assert (status, version) == (200, "1")
    assert b'"model_name":"fraud"' in body and b'"model_version":"1"' in body

    admin.traffic("fraud", "production", {1: 90, 2: 10})
    wait_for(lambda: eu.serving("fraud", "2"), SETTLE_S, "the canary version")
    answers = Counter(eu.infer("fraud")[1] for _ in range(10_000))
    assert set(answers) == {"1", "2"}
    assert abs(answers["2"] / 10_000 - 0.10) <= 0.03, answers

    admin.traffic("fraud", "production", {1: 50, 2: 50}, sticky_key="x-user")
    wait_for(
        lambda: len({eu.infer("fraud", {"x-user": f"u{i}"})[1] for i in range(40)}) == 2,
        SETTLE_S,
        "the sticky 50/50 split",
    )
    pinned = {eu.infer("fraud", {"x-user": "alice"})[1] for _ in range(50)}
    assert len(pinned) == 1

    admin.traffic("fraud", "production", {1: 100})
    wait_for(lambda: _only(eu, "1"), SETTLE_S, "v1 at 100%")
    admin.traffic("fraud", "production", {2: 100})
    wait_for(lambda: _only(eu, "2"), SETTLE_S, "v2 at 100%")

    # Continuous load from two threads while the hub rolls back to the previous revision.
    failures: list[object] = []
    seen: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                status, answered, _ = eu.infer("fraud")
            except OSError as exc:
                failures.append(exc)
                continue
            if status != 200:
                failures.append(status)
            seen[answered] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: sum(seen.values()) > 200, SETTLE_S, "load to start")
        admin.rollback("fraud", "production")
        # The previous revision is v1 at 100%: v1 is still loaded (grace period), so the
        # switch is instant and no request fails.
        wait_for(lambda: _only(eu, "1"), SETTLE_S, "the rollback")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert seen["2"] > 0 and seen["1"] > 0  # load ran before and after the switch


def _only(agent: object, version: str) -> bool:
    return all(agent.infer("fraud")[1] == version for _ in range(20))  # type: ignore[attr-defined]
