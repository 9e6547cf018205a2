"""The HTTP layer over raw sockets against a real agent process (port 0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import onnx
import orjson
import pytest
from onnx import TensorProto, helper

MAX_BODY = 4096


def write_model(models: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "echo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    folder = models / "echo" / "1"
    folder.mkdir(parents=True)
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "model.onnx"
    )


@pytest.fixture(scope="module")
def agent_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("agent")
    write_model(root / "models")
    ready = root / "ready.json"
    command = [
        sys.executable, "-m", "modelfleet.agent.cli", "serve", "--models", str(root / "models"),
        "--http-port", "0", "--grpc-port", "0", "--ready-file", str(ready),
        "--control-token-file", str(root / "token"), "--max-body-bytes", str(MAX_BODY),
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "agent did not become ready"
        time.sleep(0.05)
    yield int(orjson.loads(ready.read_bytes())["http_port"])
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def infer_request(value: float, extra: str = "") -> bytes:
    body = orjson.dumps(
        {"id": str(value), "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                                       "data": [value, value]}]}
    )  # fmt: skip
    return (
        f"POST /v2/models/echo/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"{extra}\r\n"
    ).encode() + body


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Read `count` HTTP responses (content-length framed) from the socket."""
    buffer = b""
    out: list[tuple[int, dict[str, str], bytes]] = []
    sock.settimeout(10)
    while len(out) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} responses"
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(buffer) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            buffer += chunk
        out.append((int(lines[0].split()[1]), headers, buffer[:length]))
        buffer = buffer[length:]
    return out


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port))


def test_pipelined_requests_are_answered_in_order(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(b"".join(infer_request(float(i)) for i in range(20)))
        responses = read_responses(sock, 20)
    assert [orjson.loads(body)["id"] for _, _, body in responses] == [
        str(float(i)) for i in range(20)
    ]
    assert all(status == 200 for status, _, _ in responses)


def test_keep_alive_and_connection_close(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(infer_request(1.0))
        sock.sendall(infer_request(2.0, "Connection: close\r\n"))
        first, second = read_responses(sock, 2)
        assert "connection" not in first[1]
        assert second[1]["connection"] == "close"
        assert sock.recv(10) == b""


def test_over_limit_body_gets_413_and_close(agent_port: int) -> None:
    body = b"x" * (MAX_BODY + 1)
    head = f"POST /v2/models/echo/infer HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n"
    with connect(agent_port) as sock:
        sock.sendall(head.encode() + body)
        ((status, headers, payload),) = read_responses(sock, 1)
    assert status == 413
    assert str(MAX_BODY) in orjson.loads(payload)["error"]
    assert headers["connection"] == "close"


def test_chunked_body_over_limit_gets_413(agent_port: int) -> None:
    chunk = b"y" * 3000
    head = b"POST /v2/models/echo/infer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
    with connect(agent_port) as sock:
        sock.sendall(head + chunks)
        ((status, _, _),) = read_responses(sock, 1)
    assert status == 413


def test_garbage_gets_400_and_agent_lives(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        ((status, _, payload),) = read_responses(sock, 1)
    assert status == 400
    assert "malformed HTTP request" in orjson.loads(payload)["error"]
    with connect(agent_port) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n\r\n")
        ((status, _, _),) = read_responses(sock, 1)
    assert status == 200


def test_error_after_pipelined_good_request_keeps_order(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(infer_request(7.0) + b"BROKEN\r\n\r\n")
        (first, second) = read_responses(sock, 2)
    assert first[0] == 200 and orjson.loads(first[2])["id"] == "7.0"
    assert second[0] == 400


def test_routes_and_methods(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(
            b"GET /v2/models/echo/infer HTTP/1.1\r\n\r\n"
            b"GET /v2/models/echo%2Fx HTTP/1.1\r\n\r\n"
            b"GET /nowhere?x=1 HTTP/1.1\r\n\r\n"
            b"GET /v2/models/echo/versions/1/ready HTTP/1.1\r\n\r\n"
        )
        responses = read_responses(sock, 4)
    assert [r[0] for r in responses] == [405, 404, 404, 200]
    assert responses[0][1]["allow"] == "POST"
    assert orjson.loads(responses[3][2]) == {"name": "echo", "ready": True}
