"""The agent's model-run threads: results, errors, order, shutdown."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from modelfleet.agent.node.workers import ModelWorkers


class Collector:
    def __init__(self, expected: int) -> None:
        self.results: list[tuple[Any, BaseException | None, str]] = []
        self._expected = expected
        self.done = threading.Event()

    def __call__(self, result: Any, error: BaseException | None) -> None:
        self.results.append((result, error, threading.current_thread().name))
        if len(self.results) == self._expected:
            self.done.set()


def test_results_and_errors_reach_the_callback_in_order() -> None:
    workers = ModelWorkers(1)
    collect = Collector(3)
    try:
        workers.submit(lambda x: x * 2, 21, collect)
        workers.submit(lambda x: 1 / x, 0, collect)
        workers.submit(str.upper, "ok", collect)
        assert collect.done.wait(10)
    finally:
        workers.shutdown()
        workers.join()
    (first, none1, thread), (failed, error, _), (third, none3, _) = collect.results
    assert (first, none1, third, none3) == (42, None, "OK", None)
    assert failed is None and isinstance(error, ZeroDivisionError)
    assert thread.startswith("model-")


def test_shutdown_finishes_the_running_job_and_drops_the_queued_ones() -> None:
    workers = ModelWorkers(1)
    started, release = threading.Event(), threading.Event()
    collect = Collector(1)

    def blocking(_: Any) -> str:
        started.set()
        release.wait(10)
        return "finished"

    workers.submit(blocking, None, collect)
    assert started.wait(10)
    workers.submit(lambda _: "queued", None, collect)
    workers.shutdown()
    release.set()
    workers.join()
    assert [r for r, _, _ in collect.results] == ["finished"]
    with pytest.raises(RuntimeError, match="shut down"):
        workers.submit(lambda _: None, None, collect)
