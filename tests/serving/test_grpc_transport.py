"""The gRPC port's own HTTP/2: flow control, size limits, unknown methods, GOAWAY on drain,
and peers that break the protocol (the agent closes their connection and serves on)."""

from __future__ import annotations

import random
import signal
import socket
import struct
from pathlib import Path

import grpc
import numpy as np
import pytest
from agentproc import MAX_BODY_BYTES, Agent, AgentFactory
from hpack import Decoder, Encoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelzoo import identity_name
from oip import grpc_outputs, grpc_request

from modelfleet.agent.node.rpc.http2 import HeaderDecoder
from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

pytestmark = pytest.mark.timeout(150)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GOAWAY = 7
IDENTITY_BYTES = identity_name("BYTES")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">I", stream_id)
        + payload
    )


def read_frames(sock: socket.socket) -> list[tuple[int, int, int, bytes]]:
    """Every frame the server sends until it closes the connection (or 10 s pass)."""
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    frames, position = [], 0
    while len(data) - position >= 9:
        length = int.from_bytes(data[position : position + 3], "big")
        kind, flags = data[position + 3], data[position + 4]
        stream_id = int.from_bytes(data[position + 5 : position + 9], "big") & 0x7FFFFFFF
        frames.append((kind, flags, stream_id, data[position + 9 : position + 9 + length]))
        position += 9 + length
    return frames


def send_raw(agent: Agent, data: bytes, end: bool = False) -> list[tuple[int, int, int, bytes]]:
    """`data` on a new connection (then end-of-stream if `end`); the frames that come back."""
    with socket.create_connection(("127.0.0.1", agent.grpc_port), timeout=10) as sock:
        sock.sendall(data)
        if end:
            sock.shutdown(socket.SHUT_WR)
        return read_frames(sock)


def goaway_code(frames: list[tuple[int, int, int, bytes]]) -> int | None:
    for kind, _, _, payload in frames:
        if kind == GOAWAY:
            return int.from_bytes(payload[4:8], "big")
    return None


def serves(agent: Agent) -> bool:
    return bool(agent.oip().ServerLive(pb.ServerLiveRequest(), timeout=10).live)


SETTINGS = frame(4, 0, 0)
BROKEN = {
    "not-http2": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0x1),
    "frame-too-large": (PREFACE + SETTINGS + frame(0, 0, 1, b"x" * 20000), 0x6),
    "bad-hpack": (PREFACE + SETTINGS + frame(1, 0x5, 1, b"\xff\xff\xff\xff\xff\xff"), 0x9),
    "even-stream": (PREFACE + SETTINGS + frame(1, 0x5, 2, b"\x83\x86"), 0x1),
    "continuation-alone": (PREFACE + SETTINGS + frame(9, 0x4, 1, b"\x83"), 0x1),
    "data-on-idle-stream": (PREFACE + SETTINGS + frame(0, 0x1, 5, b"abc"), 0x1),
    "short-window-update": (PREFACE + SETTINGS + frame(8, 0, 0, b"\x00"), 0x6),
    "zero-window-update": (PREFACE + SETTINGS + frame(8, 0, 0, b"\x00\x00\x00\x00"), 0x1),
    "bad-settings": (PREFACE + frame(4, 0, 0, b"\x00\x04\x00"), 0x6),
    "bad-ping": (PREFACE + SETTINGS + frame(6, 0, 0, b"1234"), 0x6),
    "push-promise": (PREFACE + SETTINGS + frame(5, 0x4, 1, b"\x00\x00\x00\x02"), 0x1),
    "bad-padding": (PREFACE + SETTINGS + frame(1, 0x8 | 0x5, 1, b"\x09\x83"), 0x1),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_protocol_errors_end_the_connection_not_the_agent(agent: Agent, case: str) -> None:
    data, code = BROKEN[case]
    assert goaway_code(send_raw(agent, data)) == code
    assert serves(agent)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    frames=st.lists(
        st.tuples(
            st.integers(0, 12),
            st.integers(0, 255),
            st.sampled_from([0, 1, 2, 3, 5, 2**31 - 1]),
            st.binary(max_size=64),
        ),
        max_size=8,
    )
)
def test_random_frames_never_stop_the_agent(
    agent: Agent, frames: list[tuple[int, int, int, bytes]]
) -> None:
    send_raw(agent, PREFACE + b"".join(frame(*f) for f in frames), end=True)
    assert serves(agent)


def strings(rows: int, size: int) -> np.ndarray:
    return np.array([[f"{i:0{size}d}" for i in range(3)]] * rows, dtype=object)


def test_large_response_crosses_the_client_flow_control_window(agent: Agent) -> None:
    """About 900 KB back, many times the client's initial 64 KB window."""
    values = strings(300, 1000)
    request = grpc_request(IDENTITY_BYTES, [("value_in", values, "BYTES")], raw=True)
    reply = agent.oip().ModelInfer(request, timeout=30)
    assert grpc_outputs(reply)["value_out"].tolist() == values.tolist()


def test_message_over_the_limit_is_resource_exhausted(agent: Agent) -> None:
    values = strings(400, 1000)
    request = grpc_request(IDENTITY_BYTES, [("value_in", values, "BYTES")], raw=True)
    assert request.ByteSize() > MAX_BODY_BYTES
    with pytest.raises(grpc.RpcError) as caught:
        agent.oip().ModelInfer(request, timeout=30)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert "larger than max" in error.details()
    assert serves(agent)


def test_unknown_method_is_unimplemented(agent: Agent) -> None:
    call = agent.channel().unary_unary("/inference.GRPCInferenceService/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as caught:
        call(b"", timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_drain_sends_goaway(zoo: Path, spawn: AgentFactory) -> None:
    agent = spawn(zoo)
    with socket.create_connection(("127.0.0.1", agent.grpc_port), timeout=10) as sock:
        sock.sendall(PREFACE + SETTINGS)
        agent.proc.send_signal(signal.SIGTERM)
        assert goaway_code(read_frames(sock)) == 0
    assert agent.proc.wait(30) == 0


def test_header_blocks_are_reused_only_while_the_dynamic_table_holds() -> None:
    """Decoded blocks are remembered; the result must equal hpack's own decoding throughout
    additions, evictions and table size updates."""
    encoder, reference, ours = Encoder(), Decoder(), HeaderDecoder()
    rng = random.Random(1)
    for i in range(2000):
        if i % 300 == 299:
            encoder.header_table_size = rng.choice([0, 128, 256, 4096])
        headers = [
            (":path", "/inference.GRPCInferenceService/ModelInfer"),
            ("grpc-timeout", f"{rng.randint(5, 7)}m"),
            ("x-key", rng.choice(["a" * 10, "b" * 50, "c" * 100])),
        ]
        block = encoder.encode(headers)
        assert ours.decode(block) == list(reference.decode(block, raw=True))
