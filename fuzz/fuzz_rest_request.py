"""Fuzz the agent's HTTP layer: raw request bytes -> HttpProtocol -> RestApi -> models.

No sockets: the real protocol object is fed through a fake transport that records what
it writes, on a real event loop, over a real model repository served by ONNX Runtime.
Byte 0 >= 0xC0 splits the rest into (byte0 - 0xBF)-byte chunks (incremental parsing);
otherwise the rest is fed at once. Every answer must be a well-formed HTTP/1.1 response
with a status below 500, and nothing may escape the protocol.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import atheris
from _harness import fuzz

with atheris.instrument_imports(include=["modelfleet.agent.node", "modelfleet.oip"]):
    from prometheus_client.registry import CollectorRegistry

    from modelfleet.agent.node.inference import InferenceService
    from modelfleet.agent.node.limits import Limits
    from modelfleet.agent.node.metrics import MetricsRegistry
    from modelfleet.agent.node.models import ModelManager
    from modelfleet.agent.node.repository import Batching
    from modelfleet.agent.node.rest.handlers import RestApi
    from modelfleet.agent.node.rest.protocol import HttpProtocol, HttpServerState
    from modelfleet.agent.node.workers import ModelWorkers

from _models import write_repository

MAX_BODY = 64 * 1024
SETTLE_TIMEOUT_S = 10.0
_ROOT = Path(tempfile.mkdtemp(prefix="fuzz-rest-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


class FakeTransport(asyncio.Transport):
    """Records writes; close() reports connection_lost on the next loop turn, as asyncio does."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.protocol: HttpProtocol | None = None
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        assert not self.closed, "write after close"
        self.written += data

    def close(self) -> None:
        if not self.closed and self.protocol is not None:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _build() -> HttpServerState:
    models = write_repository(_ROOT / "models")
    pool = ModelWorkers(2)
    metrics = MetricsRegistry()
    manager = ModelManager(models, pool, 2, Batching(max_batch_size=8), metrics)
    await manager.load_repository()
    service = InferenceService(manager, Limits(max_body_bytes=MAX_BODY), metrics)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics)
    return HttpServerState(RestApi(service, registry, lambda: True), MAX_BODY)


LOOP = asyncio.new_event_loop()
STATE = LOOP.run_until_complete(_build())


async def _serve(chunks: list[bytes]) -> FakeTransport:
    protocol = HttpProtocol(STATE)
    transport = FakeTransport(LOOP)
    transport.protocol = protocol
    protocol.connection_made(transport)
    for chunk in chunks:
        protocol.data_received(chunk)
    deadline = LOOP.time() + SETTLE_TIMEOUT_S
    while not protocol.idle and not transport.closed:
        assert LOOP.time() < deadline, "requests still unanswered after the timeout"
        await asyncio.sleep(0.0005)
    await asyncio.sleep(0)  # let a scheduled connection_lost run
    if not transport.closed:
        protocol.connection_lost(None)
    return transport


def parse_responses(stream: bytes) -> list[int]:
    """Statuses of the HTTP/1.1 responses in `stream`; AssertionError if it is malformed."""
    statuses = []
    while stream:
        head, sep, rest = stream.partition(b"\r\n\r\n")
        assert sep, f"response head not terminated: {stream[:200]!r}"
        lines = head.split(b"\r\n")
        version, status, _reason = [*lines[0].split(b" ", 2), b""][:3]
        assert version == b"HTTP/1.1" and status.isdigit() and len(status) == 3, lines[0]
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b": ")
            assert colon and name and b"\n" not in value and b"\r" not in value, line
            assert name.lower() not in headers, f"duplicate header {name!r}"
            headers[name.lower()] = value
        length = headers.get(b"content-length", b"")
        assert length.isdigit() and len(rest) >= int(length), (headers, len(rest))
        statuses.append(int(status))
        stream = rest[int(length) :]
    return statuses


def chunks_of(data: bytes) -> list[bytes]:
    if data[0] < 0xC0:
        return [data[1:]]
    size = data[0] - 0xBF
    return [data[i : i + size] for i in range(1, len(data), size)]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    transport = LOOP.run_until_complete(_serve(chunks_of(data)))
    statuses = parse_responses(bytes(transport.written))
    assert all(status < 500 for status in statuses), (statuses, bytes(transport.written)[:500])


if __name__ == "__main__":
    fuzz(test_one_input)
