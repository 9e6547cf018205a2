"""HTTP/1.1 on asyncio with httptools: keep-alive, pipelining in order, bounded bodies."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any, cast

import httptools

from modelfleet.agent.node.access import is_loopback
from modelfleet.oip import dumps

log = logging.getLogger(__name__)

JSON = b"application/json"
_MAX_PIPELINED = 64
#: an over-limit body is read and dropped up to this size before the connection is cut
_MAX_DISCARD = 256 * 1024 * 1024
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[bytes, bytes]
    body: bytes
    #: the client connected from a loopback address
    local: bool = False


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def error_response(status: int, message: str) -> Response:
    return Response(status, dumps({"error": message}))


class Deferred:
    """An answer that is ready when `future` is done; `finish` then builds the Response."""

    __slots__ = ("finish", "future")

    def __init__(self, future: asyncio.Future[Any], finish: Callable[[], Response]) -> None:
        self.future = future
        self.finish = finish


Handler = Callable[[Request], "Response | Deferred"]


# The headers the agent always reads.
_BASE_HEADERS = frozenset(
    (b"inference-header-content-length", b"content-length", b"authorization", b"host")
)


class HttpServerState:
    """What every connection shares: the handler, the body limit and the open connections."""

    def __init__(self, handler: Handler, max_body_bytes: int) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.connections: set[HttpProtocol] = set()
        self.closing = False
        #: headers kept for the handler (lower-case); others are skipped without decoding
        self.wanted_headers = _BASE_HEADERS

    def want_headers(self, names: frozenset[str]) -> None:
        """Also keep these headers (routing keys of deployments)."""
        self.wanted_headers = _BASE_HEADERS | {n.lower().encode() for n in names}


class HttpProtocol(asyncio.Protocol):
    """One client connection; requests are answered strictly in the order they arrived."""

    def __init__(self, state: HttpServerState) -> None:
        self._state = state
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: deque[tuple[Request, bool]] = deque()
        self._busy = False
        self._closing = False
        #: answer to send once earlier pipelined requests are answered, then close
        self._final: Response | None = None
        #: reading the rest of an over-limit body so the client can read our 413
        self._discarding = 0
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._local = False
        self._paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._state.connections.add(self)
        peer = transport.get_extra_info("peername")
        self._local = isinstance(peer, tuple) and is_loopback(str(peer[0]))

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._closing = True
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._closing and not self._discarding:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self._closing:
                self._fail(400, f"malformed HTTP request: {exc}")

    # -- httptools callbacks (state is reset when a message completes) -------------------
    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key in self._state.wanted_headers:
            self._headers[key] = value

    def on_headers_complete(self) -> None:
        declared = self._headers.get(b"content-length")
        limit = self._state.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._reject_body(f"body of {int(declared)} bytes is over the {limit} byte limit")

    def on_body(self, body: bytes) -> None:
        if self._discarding:
            self._discarding += len(body)
            if self._discarding > _MAX_DISCARD and self._transport is not None:
                self._transport.close()
            return
        if self._closing:
            return
        self._size += len(body)
        if self._size > self._state.max_body_bytes:
            self._reject_body(f"body is over the {self._state.max_body_bytes} byte limit")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._discarding and self._transport is not None:
            self._transport.close()
        if self._closing:
            return
        path = self._url.split(b"?", 1)[0]
        try:
            text_path = path.decode()
        except UnicodeDecodeError:
            text_path = "\x00"  # matches no route: answered 404
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        method = self._parser.get_method().decode()
        request = Request(method, text_path, self._headers, body, self._local)
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._pending.append((request, self._parser.should_keep_alive()))
        if len(self._pending) > _MAX_PIPELINED and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        if not self._busy:
            self._next()

    # -- answering ----------------------------------------------------------------------
    def _next(self) -> None:
        if self._final is not None and not self._busy:
            final, self._final = self._final, None
            self._write(final, keep_alive=False)
            return
        while self._pending and not self._busy and not self._closing:
            request, keep_alive = self._pending.popleft()
            if self._state.closing:
                keep_alive = False
            try:
                result = self._state.handler(request)
            except Exception:
                log.exception("[HTTP] %s %s handler failed", request.method, request.path)
                result = error_response(500, "internal error; the agent logged the details")
            if isinstance(result, Response):
                self._write(result, keep_alive)
                continue
            self._busy = True
            result.future.add_done_callback(partial(self._done, result, keep_alive=keep_alive))
        if self._paused and self._transport is not None and len(self._pending) <= _MAX_PIPELINED:
            self._paused = False
            self._transport.resume_reading()

    def _done(self, deferred: Deferred, _: object, *, keep_alive: bool) -> None:
        self._busy = False
        try:
            result = deferred.finish()
        except Exception:
            log.exception("[HTTP] building the response failed")
            result = error_response(500, "internal error; the agent logged the details")
        # A queued final answer (parse error) still has to go out on this connection.
        self._write(result, keep_alive or self._final is not None)
        self._next()

    def _write(self, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        head = [
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            % (
                response.status,
                _REASONS.get(response.status, b""),
                response.content_type,
                len(response.body),
            )
        ]
        for name, value in response.headers:
            head.append(b"%s: %s\r\n" % (name, value))
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        head.append(response.body)
        transport.write(b"".join(head))
        if not keep_alive:
            self._closing = True
            if not self._discarding:
                transport.close()

    def _reject_body(self, message: str) -> None:
        """413 now; read and drop the rest of the body so the client sees the answer."""
        self._discarding = 1
        self._fail(413, message)

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that cannot be parsed or read (after the ones before it), close."""
        self._pending.clear()
        self._final = error_response(status, message)
        self._closing = True
        self._next()

    @property
    def idle(self) -> bool:
        return not self._busy and not self._pending

    def close_if_idle(self) -> None:
        if self.idle and self._transport is not None:
            self._closing = True
            self._transport.close()
