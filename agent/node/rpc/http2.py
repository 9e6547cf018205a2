"""The gRPC port: a small HTTP/2 server for unary and server-streaming calls.

grpc.aio costs about 300 µs of server CPU per call, more than the whole inference path, so
the agent serves gRPC itself: HTTP/2 framing with per-stream and connection flow control,
HPACK decoding (the `hpack` package; responses use literals that need no encoder state),
the gRPC message framing, `grpc-timeout`, and status codes and messages in trailers. The
servicers are the generated ones, registered with `add_*Servicer_to_server(servicer, server)`
as on a grpc.aio server; their context offers what they use (`abort`,
`set_trailing_metadata`, `time_remaining`, `invocation_metadata`, `peer`), and the
`grpc.aio.ServerInterceptor`s run before each call. Client-streaming methods are not
served (no servicer has one). A peer that breaks the protocol gets GOAWAY and is closed;
nothing it sends can stop the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import re
import ssl
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import grpc
from hpack import Decoder, HeaderTuple
from hpack.exceptions import HPACKError
from hpack.table import HeaderTable

log = logging.getLogger(__name__)
# hpack logs every decoded header at DEBUG, credentials included: never let it.
logging.getLogger("hpack").setLevel(logging.WARNING)

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME_HEADER = struct.Struct(">HBBBI")  # 24-bit length as 16 + 8 bits, type, flags, stream
_U32 = struct.Struct(">I")
_MESSAGE_PREFIX = struct.Struct(">BI")
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0, 1, 2, 3, 4
_PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 5, 6, 7, 8, 9
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
_NO_ERROR, _PROTOCOL_ERROR, _FLOW_CONTROL_ERROR, _STREAM_CLOSED = 0x0, 0x1, 0x3, 0x5
_FRAME_SIZE_ERROR, _REFUSED_STREAM, _CANCEL, _COMPRESSION_ERROR = 0x6, 0x7, 0x8, 0x9
_ENHANCE_YOUR_CALM = 0xB
_MAX_WINDOW = (1 << 31) - 1
_DEFAULT_WINDOW = 65_535
#: what this server advertises
_MAX_FRAME = 16_384
_MAX_STREAMS = 1000
_STREAM_WINDOW = 1 << 20
_CONNECTION_WINDOW = 1 << 24
_MAX_HEADER_LIST = 16_384
_DECODED_BLOCKS = 64  # header blocks remembered per connection
_SETTINGS_MAX_CONCURRENT_STREAMS, _SETTINGS_INITIAL_WINDOW_SIZE = 0x3, 0x4
_SETTINGS_MAX_FRAME_SIZE, _SETTINGS_MAX_HEADER_LIST_SIZE = 0x5, 0x6
#: headers that are transport, not call metadata
_NOT_METADATA = frozenset(
    (b"te", b"content-type", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding")
)
_TIMEOUT = re.compile(rb"^(\d{1,8})([HMSmun])$")
_TIMEOUT_UNIT = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
_OK = grpc.StatusCode.OK


class ProtocolError(Exception):
    """The peer broke HTTP/2; the connection ends with GOAWAY carrying `code`."""

    def __init__(self, message: str, code: int = _PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return _U32.pack(len(payload))[1:] + bytes((kind, flags)) + _U32.pack(stream_id) + payload


def _integer(value: int, prefix_bits: int) -> bytes:
    """An HPACK integer with a `prefix_bits`-bit prefix (the flag bits are zero)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((value,))
    out = bytearray((limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name: bytes, value: bytes) -> bytes:
    """A header field as a literal never added to the peer's dynamic table."""
    return b"\x00" + _integer(len(name), 7) + name + _integer(len(value), 7) + value


# `:status: 200` is static entry 8; content-type (static entry 31) as a literal.
_RESPONSE_HEADERS = b"\x88\x0f\x10" + _integer(16, 7) + b"application/grpc"
_TRAILERS_OK = _literal(b"grpc-status", b"0")
_SETTINGS_FRAME = _frame(
    _SETTINGS,
    0,
    0,
    b"".join(
        struct.pack(">HI", key, value)
        for key, value in (
            (_SETTINGS_MAX_CONCURRENT_STREAMS, _MAX_STREAMS),
            (_SETTINGS_INITIAL_WINDOW_SIZE, _STREAM_WINDOW),
            (_SETTINGS_MAX_HEADER_LIST_SIZE, _MAX_HEADER_LIST),
        )
    ),
) + _frame(_WINDOW_UPDATE, 0, 0, _U32.pack(_CONNECTION_WINDOW - _DEFAULT_WINDOW))
_SETTINGS_ACK = _frame(_SETTINGS, _ACK, 0)


def _percent_encode(text: str) -> bytes:
    """grpc-message: UTF-8 with bytes outside printable ASCII (and '%') percent-encoded."""
    return b"".join(
        bytes((b,)) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b
        for b in text.encode("utf-8", "replace")
    )


def _trailers(
    code: grpc.StatusCode, details: str, metadata: Sequence[tuple[str, str | bytes]]
) -> bytes:
    if code is _OK and not details and not metadata:
        return _TRAILERS_OK
    fields = [_literal(b"grpc-status", str(code.value[0]).encode())]
    if details:
        fields.append(_literal(b"grpc-message", _percent_encode(details)))
    for key, value in metadata:
        name = key.lower().encode("ascii")
        if isinstance(value, bytes):
            value = base64.b64encode(value).rstrip(b"=").decode() if name.endswith(b"-bin") else ""
        fields.append(_literal(name, value.encode("ascii", "replace")))
    return b"".join(fields)


def _timeout(value: bytes) -> float | None:
    match = _TIMEOUT.match(value)
    return None if match is None else int(match[1]) * _TIMEOUT_UNIT[match[2]]


class _CountingTable(HeaderTable):
    """hpack's dynamic table, counting additions: while the count, the number of entries
    (evictions only shrink it) and the size limit stay the same, so does the table."""

    def __init__(self) -> None:
        super().__init__()
        self.additions = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.additions += 1
        super().add(name, value)


def _state(table: _CountingTable) -> tuple[int, int, int]:
    return table.additions, len(table.dynamic_entries), table.maxsize


class HeaderDecoder:
    """HPACK decoding that reuses the result for a repeated header block while the dynamic
    table is unchanged (clients send the same block call after call)."""

    def __init__(self) -> None:
        self._decoder = Decoder(max_header_list_size=_MAX_HEADER_LIST)
        self._table = self._decoder.header_table = _CountingTable()
        self._decoded: dict[tuple[bytes, int, int, int], list[HeaderTuple]] = {}

    def decode(self, block: bytes) -> list[HeaderTuple]:
        table = self._table
        key = (block, *_state(table))
        headers = self._decoded.get(key)
        if headers is None:
            headers = list(self._decoder.decode(block, raw=True))
            if _state(table) == key[1:]:  # a block that changed the table is never reused
                if len(self._decoded) >= _DECODED_BLOCKS:
                    self._decoded.clear()
                self._decoded[key] = headers
        return headers


class _CallDetails(grpc.HandlerCallDetails):
    __slots__ = ("invocation_metadata", "method")

    def __init__(self, method: str, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self.method = method
        self.invocation_metadata = metadata


class _Abort(grpc.aio.AbortError):
    """Raised by `ServicerContext.abort`; the status is on the context."""


class ServicerContext:
    """The part of grpc.aio's servicer context the agent's servicers use."""

    __slots__ = ("_deadline", "_metadata", "_peer", "code", "details", "trailing")

    def __init__(
        self, metadata: tuple[tuple[str, str | bytes], ...], deadline: float | None, peer: str
    ) -> None:
        self._metadata = metadata
        self._deadline = deadline
        self._peer = peer
        self.code: grpc.StatusCode = _OK
        self.details = ""
        self.trailing: tuple[tuple[str, str | bytes], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def peer(self) -> str:
        return self._peer

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, str | bytes]]) -> None:
        self.trailing = tuple(metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing: Any = None) -> None:
        if code is _OK:
            raise ValueError("abort needs an error status")
        self.code, self.details = code, details
        if trailing:
            self.trailing = tuple(trailing)
        raise _Abort()


class _Stream:
    __slots__ = (
        "chunks",
        "ended",
        "expired",
        "headers",
        "headers_sent",
        "id",
        "pending",
        "received",
        "recv_window",
        "send_window",
        "task",
        "trailers",
        "writable",
    )

    def __init__(self, stream_id: int, headers: list[HeaderTuple], send_window: int) -> None:
        self.id = stream_id
        self.headers = headers
        self.chunks: list[bytes] = []
        self.received = 0
        self.recv_window = _STREAM_WINDOW
        self.send_window = send_window
        self.ended = False  # the client sent END_STREAM
        self.expired = False  # its grpc-timeout passed
        self.headers_sent = False
        self.pending = b""  # DATA payload waiting for flow-control window
        self.trailers: bytes | None = None  # sent once `pending` is out
        self.task: asyncio.Task[None] | None = None
        self.writable: asyncio.Event | None = None


Handler = Any  # grpc.RpcMethodHandler: its generic form adds nothing here


class GrpcServer:
    """Serves registered gRPC methods over HTTP/2 (h2c, or h2 over TLS with ALPN)."""

    def __init__(
        self,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),  # type: ignore[type-arg]
        max_message_bytes: int = 4 << 20,
    ) -> None:
        self._interceptors = tuple(interceptors)
        self.max_message_bytes = max_message_bytes
        self.handlers: dict[str, Handler] = {}
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._idle: asyncio.Event | None = None  # set once stopping and no call is left

    def add_servicer(self, add_to_server: Callable[[Any, Any], None], servicer: Any) -> None:
        """Registers `servicer` through its generated `add_*Servicer_to_server` function."""
        add_to_server(servicer, self)

    # The two calls a generated `add_*Servicer_to_server` makes.
    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        """Ignored: the registered method handlers that follow carry the same methods."""

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        for name, handler in handlers.items():
            if handler.request_streaming:
                raise ValueError(f"/{service}/{name}: client streaming is not supported")
            self.handlers[f"/{service}/{name}"] = handler

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen; returns the bound port."""
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=2048, ssl=tls
        )
        port_bound: int = self._server.sockets[0].getsockname()[1]
        return port_bound

    async def find_handler(self, method: str, metadata: tuple[Any, ...]) -> Handler | None:
        handler = self.handlers.get(method)
        if not self._interceptors or handler is None:
            return handler
        details = _CallDetails(method, metadata)
        for interceptor in reversed(self._interceptors):
            handler = await interceptor.intercept_service(_constant(handler), details)
        return handler

    def stream_ended(self) -> None:
        """Called as streams end; while stopping, notes when no call is left."""
        if self._idle is not None and not any(c.streams for c in self.connections):
            self._idle.set()

    async def stop(self, grace: float) -> None:
        """Stop accepting, send GOAWAY, let calls in flight finish for up to `grace` seconds,
        then cancel what is left and close."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.go_away(_NO_ERROR)
        self._idle = asyncio.Event()
        self.stream_ended()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        for connection in list(self.connections):
            connection.close()


def _constant(handler: Handler) -> Callable[[Any], Any]:
    async def continuation(details: Any) -> Handler:
        return handler

    return continuation


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: frames in, calls dispatched as tasks, frames out."""

    def __init__(self, server: GrpcServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._preface = False
        self._decoder = HeaderDecoder()
        self.streams: dict[int, _Stream] = {}
        self._last_stream = 0
        self._header_block: list[bytes] | None = None  # a HEADERS block awaiting CONTINUATION
        self._header_stream = 0
        self._header_flags = 0
        self._send_window = _DEFAULT_WINDOW
        self._peer_initial_window = _DEFAULT_WINDOW
        self._peer_max_frame = 16_384
        self._recv_window = _CONNECTION_WINDOW
        self._out: list[bytes] = []
        self._blocked: dict[int, _Stream] = {}  # streams waiting for window
        self._going_away = False
        self._peer = ""
        self._loop = asyncio.get_running_loop()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._peer = f"ipv{6 if ':' in peer[0] else 4}:{peer[0]}:{peer[1]}"
        self._server.connections.add(self)
        transport.write(_SETTINGS_FRAME)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
            if stream.writable is not None:
                stream.writable.set()
        self.streams.clear()
        self._blocked.clear()
        self._server.stream_ended()

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except ProtocolError as exc:
            log.info("gRPC peer %s: %s; closing the connection", self._peer, exc)
            self.go_away(exc.code)
            self.close()
        except HPACKError as exc:
            log.info("gRPC peer %s: bad header block (%s); closing", self._peer, exc)
            self.go_away(_COMPRESSION_ERROR)
            self.close()
        except Exception:
            log.exception("gRPC peer %s: unexpected error; closing the connection", self._peer)
            self.go_away(_PROTOCOL_ERROR)
            self.close()
        self._write_out()

    # Output
    def _send(self, data: bytes) -> None:
        if not self._out:
            self._loop.call_soon(self._write_out)
        self._out.append(data)

    def _write_out(self) -> None:
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def go_away(self, code: int) -> None:
        if self._transport is None:
            return
        self._going_away = True
        self._send(_frame(_GOAWAY, 0, 0, _U32.pack(self._last_stream) + _U32.pack(code)))

    def close(self) -> None:
        self._write_out()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # Input
    def _receive(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        position = 0
        if not self._preface:
            if len(buffer) < len(_PREFACE):
                if not _PREFACE.startswith(buffer):
                    raise ProtocolError("not an HTTP/2 connection preface")
                self._buffer = buffer
                return
            if not buffer.startswith(_PREFACE):
                raise ProtocolError("not an HTTP/2 connection preface")
            position = len(_PREFACE)
            self._preface = True
        size = len(buffer)
        while size - position >= 9:
            high, low, kind, flags, stream_id = _FRAME_HEADER.unpack_from(buffer, position)
            length = (high << 8) | low
            if length > _MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes", _FRAME_SIZE_ERROR)
            end = position + 9 + length
            if end > size:
                break
            payload = buffer[position + 9 : end]
            position = end
            stream_id &= 0x7FFFFFFF
            if self._header_block is not None and kind != _CONTINUATION:
                raise ProtocolError("header block interrupted")
            if kind == _DATA:
                self._on_data(stream_id, flags, payload)
            elif kind == _HEADERS:
                self._on_headers(stream_id, flags, payload)
            elif kind == _CONTINUATION:
                self._on_continuation(stream_id, flags, payload)
            elif kind == _SETTINGS:
                self._on_settings(stream_id, flags, payload)
            elif kind == _WINDOW_UPDATE:
                self._on_window_update(stream_id, payload)
            elif kind == _PING:
                if len(payload) != 8 or stream_id:
                    raise ProtocolError("bad PING", _FRAME_SIZE_ERROR)
                if not flags & _ACK:
                    self._send(_frame(_PING, _ACK, 0, payload))
            elif kind == _RST_STREAM:
                self._on_reset(stream_id, payload)
            elif kind == _PUSH_PROMISE:
                raise ProtocolError("PUSH_PROMISE from a client")
            elif kind == _PRIORITY and not stream_id:
                raise ProtocolError("PRIORITY on stream 0")
            # unknown frame types are ignored, as HTTP/2 requires
        self._buffer = buffer[position:]

    @staticmethod
    def _unpad(flags: int, payload: bytes) -> bytes:
        if not flags & _PADDED:
            return payload
        if not payload or payload[0] >= len(payload):
            raise ProtocolError("bad padding")
        return payload[1 : len(payload) - payload[0]]

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        if not stream_id:
            raise ProtocolError("DATA on stream 0")
        length = len(payload)
        self._recv_window -= length
        if self._recv_window < 0:
            raise ProtocolError("connection window exceeded", _FLOW_CONTROL_ERROR)
        if self._recv_window < _CONNECTION_WINDOW // 2:
            increment = _CONNECTION_WINDOW - self._recv_window
            self._send(_frame(_WINDOW_UPDATE, 0, 0, _U32.pack(increment)))
            self._recv_window = _CONNECTION_WINDOW
        stream = self.streams.get(stream_id)
        if stream is None or stream.ended:
            if stream_id > self._last_stream:
                raise ProtocolError("DATA on an idle stream")
            if stream is not None:
                self._reset(stream, _STREAM_CLOSED)
            return  # a stream this server already answered or reset
        stream.recv_window -= length
        if stream.recv_window < 0:
            self._reset(stream, _FLOW_CONTROL_ERROR)
            return
        data = self._unpad(flags, payload)
        stream.received += len(data)
        if stream.received > self._server.max_message_bytes + _MESSAGE_PREFIX.size:
            limit = self._server.max_message_bytes
            self._finish(  # also resets the stream: the rest of the request is not wanted
                stream,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({stream.received - 5} vs. {limit})",
            )
            return
        stream.chunks.append(data)
        if stream.recv_window < _STREAM_WINDOW // 2 and not flags & _END_STREAM:
            increment = _STREAM_WINDOW - stream.recv_window
            self._send(_frame(_WINDOW_UPDATE, 0, stream_id, _U32.pack(increment)))
            stream.recv_window = _STREAM_WINDOW
        if flags & _END_STREAM:
            stream.ended = True
            self._dispatch(stream)

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if not stream_id:
            raise ProtocolError("HEADERS on stream 0")
        payload = self._unpad(flags, payload)
        if flags & _PRIORITY_FLAG:
            payload = payload[5:]
        self._header_stream, self._header_flags = stream_id, flags
        self._header_block = [payload]
        if flags & _END_HEADERS:
            self._end_headers()

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        if self._header_block is None or stream_id != self._header_stream:
            raise ProtocolError("unexpected CONTINUATION")
        self._header_block.append(payload)
        if sum(map(len, self._header_block)) > 4 * _MAX_HEADER_LIST:
            raise ProtocolError("header block too large", _ENHANCE_YOUR_CALM)
        if flags & _END_HEADERS:
            self._end_headers()

    def _end_headers(self) -> None:
        assert self._header_block is not None
        block = b"".join(self._header_block)
        stream_id, flags = self._header_stream, self._header_flags
        self._header_block = None
        # Decoded even for streams refused below: the HPACK table must stay in step.
        headers = self._decoder.decode(block)
        stream = self.streams.get(stream_id)
        if stream is not None:  # trailers from the client end its half of the stream
            if not flags & _END_STREAM or stream.ended:
                raise ProtocolError("HEADERS in the middle of a request")
            stream.ended = True
            self._dispatch(stream)
            return
        if not stream_id & 1:
            raise ProtocolError(f"HEADERS on stream {stream_id}, which a client cannot open")
        if stream_id <= self._last_stream:  # a stream this server already answered or reset
            self._send(_frame(_RST_STREAM, 0, stream_id, _U32.pack(_STREAM_CLOSED)))
            return
        self._last_stream = stream_id
        if self._going_away or len(self.streams) >= _MAX_STREAMS:
            self._send(_frame(_RST_STREAM, 0, stream_id, _U32.pack(_REFUSED_STREAM)))
            return
        stream = self.streams[stream_id] = _Stream(stream_id, headers, self._peer_initial_window)
        if flags & _END_STREAM:
            stream.ended = True
            self._dispatch(stream)

    def _on_settings(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id:
            raise ProtocolError("SETTINGS on a stream")
        if flags & _ACK:
            return
        if len(payload) % 6:
            raise ProtocolError("SETTINGS of a bad size", _FRAME_SIZE_ERROR)
        for offset in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == _SETTINGS_INITIAL_WINDOW_SIZE:
                if value > _MAX_WINDOW:
                    raise ProtocolError("initial window too large", _FLOW_CONTROL_ERROR)
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == _SETTINGS_MAX_FRAME_SIZE:
                if not 16_384 <= value <= 16_777_215:
                    raise ProtocolError("bad max frame size")
                self._peer_max_frame = value
        self._send(_SETTINGS_ACK)
        self._flush_blocked()

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolError("WINDOW_UPDATE of a bad size", _FRAME_SIZE_ERROR)
        increment = _U32.unpack(payload)[0] & 0x7FFFFFFF
        if not stream_id:
            if not increment:
                raise ProtocolError("zero WINDOW_UPDATE")
            self._send_window += increment
            if self._send_window > _MAX_WINDOW:
                raise ProtocolError("connection window overflow", _FLOW_CONTROL_ERROR)
            self._flush_blocked()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        stream.send_window += increment
        if not increment or stream.send_window > _MAX_WINDOW:
            self._reset(stream, _FLOW_CONTROL_ERROR)
            return
        self._flush(stream)

    def _on_reset(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolError("RST_STREAM of a bad size", _FRAME_SIZE_ERROR)
        if not stream_id or stream_id > self._last_stream:
            raise ProtocolError("RST_STREAM on an idle stream")
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            self._forget(stream)

    # Streams
    def _reset(self, stream: _Stream, code: int) -> None:
        self._send(_frame(_RST_STREAM, 0, stream.id, _U32.pack(code)))
        if self.streams.pop(stream.id, None) is not None:
            self._forget(stream)

    def _forget(self, stream: _Stream) -> None:
        self._blocked.pop(stream.id, None)
        self._server.stream_ended()
        if stream.task is not None and not stream.task.done():
            stream.task.cancel()
        if stream.writable is not None:
            stream.writable.set()

    def _dispatch(self, stream: _Stream) -> None:
        body = b"".join(stream.chunks)
        stream.chunks = []
        stream.task = self._loop.create_task(self._call(stream, body))

    async def _call(self, stream: _Stream, body: bytes) -> None:
        path = b""
        deadline: float | None = None
        content_type = b""
        metadata: list[tuple[str, str | bytes]] = []
        for name, value in stream.headers:
            if name[:1] == b":":
                if name == b":path":
                    path = value
            elif name == b"grpc-timeout":
                seconds = _timeout(value)
                if seconds is not None:
                    deadline = time.monotonic() + seconds
            elif name == b"content-type":
                content_type = value
            elif name not in _NOT_METADATA:
                if name.endswith(b"-bin"):
                    metadata.append((name.decode(), _b64decode(value)))
                else:
                    metadata.append((name.decode("latin-1"), value.decode("latin-1")))
        context = ServicerContext(tuple(metadata), deadline, self._peer)
        if not content_type.startswith(b"application/grpc"):
            self._finish(stream, grpc.StatusCode.INTERNAL, "content-type is not application/grpc")
            return
        method = path.decode("latin-1")
        timer = None
        try:
            handler = await self._server.find_handler(method, context.invocation_metadata())
            if handler is None:
                self._finish(stream, grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
                return
            if deadline is not None:
                timer = self._loop.call_later(deadline - time.monotonic(), _expire, stream)
            request = self._request(handler, body)
            if handler.response_streaming:
                await self._stream_responses(stream, handler, request, context)
            else:
                response = await handler.unary_unary(request, context)
                self._respond(stream, handler.response_serializer(response), context)
        except _CallError as exc:
            self._finish(stream, exc.code, str(exc))
        except grpc.aio.AbortError:
            self._finish(stream, context.code, context.details, context.trailing)
        except asyncio.CancelledError:
            if stream.expired:
                self._finish(stream, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            elif stream.id in self.streams:
                self._reset(stream, _CANCEL)
        except Exception as exc:
            log.exception("gRPC %s failed", method)
            self._finish(stream, grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")
        finally:
            if timer is not None:
                timer.cancel()

    def _request(self, handler: Handler, body: bytes) -> Any:
        if len(body) < _MESSAGE_PREFIX.size:
            raise _CallError(grpc.StatusCode.INTERNAL, "no request message")
        compressed, length = _MESSAGE_PREFIX.unpack_from(body)
        if compressed:
            raise _CallError(grpc.StatusCode.UNIMPLEMENTED, "compressed messages are not served")
        if length != len(body) - _MESSAGE_PREFIX.size:
            raise _CallError(grpc.StatusCode.INTERNAL, "not exactly one request message")
        try:
            return handler.request_deserializer(body[_MESSAGE_PREFIX.size :])
        except Exception:
            raise _CallError(grpc.StatusCode.INTERNAL, "Exception deserializing request!") from None

    async def _stream_responses(
        self, stream: _Stream, handler: Handler, request: Any, context: ServicerContext
    ) -> None:
        responses = handler.unary_stream(request, context)
        if inspect.isawaitable(responses):  # an interceptor's refusal: aborts, yields nothing
            await responses
            self._finish(stream, context.code, context.details, context.trailing)
            return
        serialize = handler.response_serializer
        async for response in responses:
            if stream.id not in self.streams:
                return
            self._message(stream, serialize(response))
            while stream.pending and stream.id in self.streams:
                stream.writable = stream.writable or asyncio.Event()
                stream.writable.clear()
                await stream.writable.wait()
        self._finish(stream, context.code, context.details, context.trailing)

    def _respond(self, stream: _Stream, message: bytes, context: ServicerContext) -> None:
        if stream.id not in self.streams:
            return
        self._message(stream, message)
        self._finish(stream, context.code, context.details, context.trailing)

    def _message(self, stream: _Stream, message: bytes) -> None:
        limit = self._server.max_message_bytes
        if len(message) > limit:
            raise _CallError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Sent message larger than max ({len(message)} vs. {limit})",
            )
        if not stream.headers_sent:
            stream.headers_sent = True
            self._send(_frame(_HEADERS, _END_HEADERS, stream.id, _RESPONSE_HEADERS))
        stream.pending += _MESSAGE_PREFIX.pack(0, len(message)) + message
        self._flush(stream)

    def _finish(
        self,
        stream: _Stream,
        code: grpc.StatusCode,
        details: str = "",
        trailing: Sequence[tuple[str, str | bytes]] = (),
    ) -> None:
        """Ends the call: trailers (or a trailers-only response) after any pending data."""
        if stream.id not in self.streams:
            return
        trailers = _trailers(code, details, trailing)
        if not stream.headers_sent:
            stream.headers_sent = True
            trailers = _RESPONSE_HEADERS + trailers
        stream.trailers = trailers
        self._flush(stream)

    def _flush(self, stream: _Stream) -> None:
        """Sends what the flow-control windows allow; then the trailers, ending the stream."""
        while stream.pending:
            size = min(
                len(stream.pending), stream.send_window, self._send_window, self._peer_max_frame
            )
            if size <= 0:
                self._blocked[stream.id] = stream
                return
            chunk, stream.pending = stream.pending[:size], stream.pending[size:]
            stream.send_window -= size
            self._send_window -= size
            self._send(_frame(_DATA, 0, stream.id, chunk))
        self._blocked.pop(stream.id, None)
        if stream.writable is not None:
            stream.writable.set()
        if stream.trailers is None:
            return
        self._send_headers(stream.id, stream.trailers)
        del self.streams[stream.id]
        self._server.stream_ended()
        if not stream.ended:  # answered before the request ended (e.g. too large)
            self._send(_frame(_RST_STREAM, 0, stream.id, _U32.pack(_NO_ERROR)))

    def _send_headers(self, stream_id: int, block: bytes) -> None:
        limit = self._peer_max_frame
        first, rest = block[:limit], block[limit:]
        flags = _END_STREAM | (0 if rest else _END_HEADERS)
        self._send(_frame(_HEADERS, flags, stream_id, first))
        while rest:
            chunk, rest = rest[:limit], rest[limit:]
            self._send(_frame(_CONTINUATION, 0 if rest else _END_HEADERS, stream_id, chunk))

    def _flush_blocked(self) -> None:
        for stream in list(self._blocked.values()):
            if self._send_window <= 0:
                return
            self._flush(stream)


def _expire(stream: _Stream) -> None:
    stream.expired = True
    if stream.task is not None:
        stream.task.cancel()


class _CallError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _b64decode(value: bytes) -> bytes:
    try:
        return base64.b64decode(value + b"=" * (-len(value) % 4))
    except ValueError:
        return b""
