"""ModelManager: hot load beside loaded versions, routing, failures, unload after in-flight."""

from __future__ import annotations

import asyncio
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from modelfleet.agent.node.errors import NotFound, Unavailable
from modelfleet.agent.node.metrics import MetricsRegistry
from modelfleet.agent.node.models import ModelManager, State
from modelfleet.agent.node.repository import Batching
from modelfleet.agent.node.workers import ModelWorkers


def write_version(models: Path, name: str, version: str, fixed_batch: bool = False) -> None:
    rows: int | str = 1 if fixed_batch else "N"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "echo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 2])],
    )
    folder = models / name / version
    folder.mkdir(parents=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, folder / "model.onnx")


def test_load_route_fail_and_unload(tmp_path: Path) -> None:
    write_version(tmp_path, "echo", "1")
    write_version(tmp_path, "echo", "2")
    write_version(tmp_path, "fixed", "1", fixed_batch=True)
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "model.onnx").write_bytes(b"not a model")

    async def body() -> None:
        pool = ModelWorkers(2)
        try:
            manager = ModelManager(tmp_path, pool, 2, Batching(8, 0), MetricsRegistry())
            await manager.load_repository()
            states = {(m.name, m.version): m.state for m in manager.statuses()}
            assert states == {
                ("broken", "1"): State.FAILED,
                ("echo", "1"): State.READY,
                ("echo", "2"): State.READY,
                ("fixed", "1"): State.READY,
            }
            assert manager.resolve("echo", None).version == "2"
            assert manager.resolve("echo", "1").version == "1"
            # A fixed first dimension cannot be batched, whatever the settings say.
            assert not manager.resolve("fixed", None).batching.enabled
            assert manager.resolve("echo", None).batching.max_batch_size == 8
            with pytest.raises(Unavailable, match="failed"):
                manager.resolve("broken", None)
            with pytest.raises(NotFound, match="no version '3'"):
                manager.resolve("echo", "3")
            with pytest.raises(NotFound, match="unknown model 'nope'"):
                manager.resolve("nope", None)

            busy = manager.resolve("echo", "2")
            busy.acquire()
            unloading = asyncio.create_task(manager.unload("echo", "2"))
            await asyncio.sleep(0.05)
            # Routing moved on at once; the version itself waits for its request.
            assert manager.resolve("echo", None).version == "1"
            assert not unloading.done()
            busy.release()
            (gone,) = await unloading
            assert gone is busy and gone.state == State.UNLOADING and gone.model is None

            write_version(tmp_path, "echo", "3")
            loaded = await manager.load("echo", "", None, Batching(0, 0))
            assert (loaded.version, loaded.state) == ("3", State.READY)
            assert not loaded.batching.enabled
            assert manager.versions_of("echo") == ["1", "3"]
            with pytest.raises(NotFound):
                await manager.unload("echo", "2")
        finally:
            pool.shutdown()

    asyncio.run(body())
