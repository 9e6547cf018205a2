"""Real receivers for notifications: an SMTP server (aiosmtpd, STARTTLS + AUTH) and an HTTP
server standing in for Slack, Teams and webhook endpoints; both on 127.0.0.1, OS-chosen ports,
and both can be taken down and brought back on the same port to play an outage."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

try:  # the suite's secret leak check (tests/secret_watch.py), loaded by tests/conftest.py
    from secret_watch import record_text
except ImportError:  # a script run outside pytest (the screenshot apps): nothing watches

    def record_text(where: str, text: str | bytes) -> None:
        return None


SMTP_USER = "alerts@example.com"


def self_signed(tmp: Path) -> tuple[Path, Path, str]:
    """(cert file, key file, cert PEM) for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp / "smtp.pem", tmp / "smtp.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem.decode()


class _PortZeroController(Controller):
    """aiosmtpd's controller, learning its port when asked for port 0."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpReceiver:
    cert: Path
    key: Path
    password: str
    port: int = 0
    #: no TLS at all (a plain relay on an internal network); AUTH still offered
    plain: bool = False
    messages: list[Message] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    _controller: Controller | None = None

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(message_from_bytes(envelope.original_content))
                record_text("e-mail received by the SMTP receiver", envelope.original_content)
                receiver.received_at.append(time.monotonic())
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password.decode() == self.password
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        controller = _PortZeroController(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=None if self.plain else context,
            require_starttls=not self.plain,
            auth_required=not self.plain,
            auth_require_tls=not self.plain,
            authenticator=authenticate,
        )
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        owner = self.server.owner
        with owner.lock:
            owner.attempts += 1
            failing = owner.fail_next > 0
            if failing:
                owner.fail_next -= 1
            else:
                owner.requests.append((self.path, dict(self.headers.items()), body))
                # The path is not scanned: for Slack and Teams the URL is the secret.
                headers = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
                record_text("payload received by the HTTP receiver", f"{headers}\n\n{body!r}")
                owner.received_at.append(time.monotonic())
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _HttpServer(ThreadingHTTPServer):
    owner: HttpReceiver
    allow_reuse_address = True
    daemon_threads = True


@dataclass
class HttpReceiver:
    """Accepts every POST with 200, except `fail_next` of them with 503."""

    port: int = 0
    fail_next: int = 0
    attempts: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _HttpServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        server = _HttpServer(("127.0.0.1", self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]


def wait_for(
    condition: Callable[[], bool], timeout: float = 20.0, what: str | Callable[[], object] = ""
) -> None:
    """Poll `condition`; on timeout, fail with `what` (called then, if it is a callable)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shown = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for {shown or condition}")
        time.sleep(0.02)
