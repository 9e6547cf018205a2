"""Dynamic batching on real ONNX Runtime sessions (models built with onnx.helper)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from modelfleet.agent.node.batcher import Batcher
from modelfleet.agent.node.errors import DeadlineExceeded, ModelFailed
from modelfleet.agent.node.metrics import ModelStats
from modelfleet.agent.node.repository import Batching
from modelfleet.agent.node.session import OnnxModel
from modelfleet.agent.node.workers import ModelWorkers


def save(model: onnx.ModelProto, folder: Path) -> OnnxModel:
    path = folder / "model.onnx"
    onnx.save(model, path)
    return OnnxModel(path)


def identity(folder: Path, cols: int | str = 2) -> OnnxModel:
    """y = x + 1 over FP32 [-1, cols]."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "plus-one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", cols])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", cols])],
        initializer=[one],
    )
    return save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder)


def gather(folder: Path) -> OnnxModel:
    """y = table[i]; an index outside the 4-entry table makes ORT fail."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [4], [10.0, 11.0, 12.0, 13.0])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "i"], ["y"])],
        "lookup",
        [helper.make_tensor_value_info("i", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
        initializer=[table],
    )
    return save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def batch_sizes(stats: ModelStats) -> int:
    return stats.batch_size.count


@pytest.fixture
def pool() -> Any:
    workers = ModelWorkers(2)
    yield workers
    workers.shutdown()


def test_queued_requests_run_as_one_batch(tmp_path: Path, pool: ModelWorkers) -> None:
    model = identity(tmp_path)
    stats = ModelStats()

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(64, 0), stats, concurrency=1)
        inputs = [np.full((i + 1, 2), i, np.float32) for i in range(5)]
        futures = [batcher.submit({"x": x}, len(x)) for x in inputs]
        results = await asyncio.gather(*futures)
        for x, (y,) in zip(inputs, results, strict=True):
            np.testing.assert_array_equal(y, x + 1)
        # The first request starts alone; the four queued behind it form one batch.
        assert batch_sizes(stats) == 2
        assert stats.batch_size.sum == 15
        assert batcher.idle

    run(body)


def test_batching_off_runs_each_request(tmp_path: Path, pool: ModelWorkers) -> None:
    model = identity(tmp_path)
    stats = ModelStats()

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(0, 0), stats, concurrency=2)
        futures = [batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1) for _ in range(6)]
        await asyncio.gather(*futures)
        assert batch_sizes(stats) == 6

    run(body)


def test_batches_respect_max_rows_and_shapes(tmp_path: Path, pool: ModelWorkers) -> None:
    model = identity(tmp_path, cols="C")
    stats = ModelStats()

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(6, 0), stats, concurrency=1)
        first = batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1)
        narrow = [batcher.submit({"x": np.ones((3, 2), np.float32)}, 3) for _ in range(4)]
        wide = batcher.submit({"x": np.ones((2, 5), np.float32)}, 2)
        results = await asyncio.gather(first, *narrow, wide)
        assert results[-1][0].shape == (2, 5)
        # 1 | 3+3 | 3+3 | the 5-column request cannot join the 2-column ones.
        assert batch_sizes(stats) == 4
        assert max(i for i, c in enumerate(stats.batch_size.counts) if c) <= 3  # <= 8 rows

    run(body)


def test_one_bad_request_does_not_fail_its_batch(tmp_path: Path, pool: ModelWorkers) -> None:
    model = gather(tmp_path)
    stats = ModelStats()

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(64, 0), stats, concurrency=1)
        warm = batcher.submit({"i": np.array([0])}, 1)
        good = batcher.submit({"i": np.array([1, 2])}, 2)
        bad = batcher.submit({"i": np.array([99])}, 1)
        also_good = batcher.submit({"i": np.array([3])}, 1)
        results = await asyncio.gather(warm, good, bad, also_good, return_exceptions=True)
        assert results[1][0].tolist() == [11.0, 12.0]
        assert isinstance(results[2], ModelFailed)
        assert "model failed" in str(results[2])
        assert results[3][0].tolist() == [13.0]

    run(body)


def test_expired_requests_are_not_run(tmp_path: Path, pool: ModelWorkers) -> None:
    model = identity(tmp_path)
    stats = ModelStats()

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(64, 0), stats, concurrency=1)
        running = batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1)
        expired = batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1)
        expired.set_exception(DeadlineExceeded("too late"))
        await running
        with pytest.raises(DeadlineExceeded):
            await expired
        await asyncio.sleep(0.05)
        assert batch_sizes(stats) == 1

    run(body)


def test_queue_delay_waits_for_more_rows(tmp_path: Path, pool: ModelWorkers) -> None:
    model = identity(tmp_path)
    stats = ModelStats()

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(4, 200_000), stats, concurrency=1)
        first = batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1)
        await asyncio.sleep(0.01)
        assert not first.done()  # held back for company
        rest = [batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1) for _ in range(3)]
        await asyncio.gather(first, *rest)  # a full batch goes at once, before the delay
        assert batch_sizes(stats) == 1 and stats.batch_size.sum == 4

    run(body)


def test_batch_hook_sees_each_batch_once_before_its_requests_are_answered(
    tmp_path: Path, pool: ModelWorkers
) -> None:
    model = gather(tmp_path)
    stats = ModelStats()
    seen: list[tuple[list[Any], list[float], list[float], list[int | None], bool]] = []
    futures: dict[str, asyncio.Future[list[np.ndarray]]] = {}

    def hook(tags: list[Any], inputs: Any, outputs: Any, rows: list[int | None]) -> None:
        answered = any(futures[tag].done() for tag in tags)
        seen.append((tags, inputs["i"].tolist(), outputs[0].tolist(), rows, answered))

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(64, 0), stats, concurrency=1, on_batch=hook)
        for tag, i in (("warm", [0]), ("a", [1, 2]), ("b", [3])):
            futures[tag] = batcher.submit({"i": np.array(i)}, len(i), tag)
        await asyncio.gather(*futures.values())
        # A batch with a bad request is retried one by one: the answered ones are told alone.
        for tag, i in (("warm2", [0]), ("ok", [2]), ("bad", [99])):
            futures[tag] = batcher.submit({"i": np.array(i)}, len(i), tag)
        await asyncio.gather(*futures.values(), return_exceptions=True)

    run(body)
    assert seen == [
        (["warm"], [0], [10.0], [1], False),
        (["a", "b"], [1, 2, 3], [11.0, 12.0, 13.0], [2, 1], False),
        (["warm2"], [0], [10.0], [1], False),
        (["ok"], [2], [12.0], [None], False),
    ]


def test_a_failing_batch_hook_does_not_keep_requests_from_their_answers(
    tmp_path: Path, pool: ModelWorkers
) -> None:
    model = identity(tmp_path)

    def hook(*_: Any) -> None:
        raise RuntimeError("monitoring bug")

    async def body() -> None:
        batcher = Batcher(model.run, pool, Batching(64, 0), ModelStats(), 1, on_batch=hook)
        (y,) = await batcher.submit({"x": np.zeros((1, 2), np.float32)}, 1)
        assert y.tolist() == [[1.0, 1.0]]

    run(body)
