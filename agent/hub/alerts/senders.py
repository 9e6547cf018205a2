"""Sending one notification over one channel: HTTPS webhooks (Slack, Teams, signed) and SMTP.

Failures are `DeliveryFailed` with a message safe to store and show: it names the host
and the status, never a URL (a Slack or Teams URL is itself the secret) nor a password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import ssl
import time

import aiohttp
import aiosmtplib

from modelfleet._version import __version__
from modelfleet.agent.hub.alerts import formatters
from modelfleet.agent.hub.alerts.channels import ChannelTarget
from modelfleet.agent.hub.alerts.outbound import (
    GuardedResolver,
    OutboundPolicy,
    OutboundRefused,
    check_url,
)

SIGNATURE_HEADER = "X-Modelfleet-Signature"
TIMESTAMP_HEADER = "X-Modelfleet-Timestamp"
IDEMPOTENCY_HEADER = "X-Modelfleet-Idempotency-Key"
# Worth another try later: the receiver is overloaded, rate limiting, or down.
_RETRYABLE_HTTP = {408, 425, 429}


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message[:500]
        self.retryable = retryable


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature header value: HMAC-SHA256 of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class Senders:
    """One HTTP connection pool (through the outbound policy) and SMTP on demand."""

    def __init__(self, policy: OutboundPolicy, timeout: float) -> None:
        self._policy = policy
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(
        self, target: ChannelTarget, secret: str, note: formatters.Notification, key: str
    ) -> None:
        try:
            if target.kind == "email":
                await self._email(target, secret, note, key)
            elif target.kind == "webhook":
                body = formatters.webhook_body(note, key)
                stamp = str(int(time.time()))
                headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}
                await self._post(target.config["url"], body, key, headers)
            elif target.kind == "slack":
                await self._post(secret, formatters.slack_body(note), key, {})
            else:
                await self._post(secret, formatters.teams_body(note), key, {})
        except OutboundRefused as exc:
            raise DeliveryFailed(f"refused: {exc}", retryable=False) from None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._policy), limit=32)
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"User-Agent": f"modelfleet-hub/{__version__}"},
            )
        return self._http

    async def _post(self, url: str, body: bytes, key: str, headers: dict[str, str]) -> None:
        host, port = check_url(url, field="url")
        # IP literals never reach the resolver: check them (and names, early) here too.
        addresses = await self._policy.resolve(host, port)
        if url.startswith("http://"):
            self._policy.check_plain_http(host, addresses)
        all_headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key, **headers}
        try:
            async with self._session().post(
                url, data=body, headers=all_headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except OutboundRefused:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise DeliveryFailed(
                f"{host}: no answer within {self._timeout:g} s", retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            raise DeliveryFailed(f"{host}: {_describe(exc)}", retryable=True) from None
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in _RETRYABLE_HTTP
        raise DeliveryFailed(f"{host}: HTTP {status}", retryable=retryable)

    async def _email(
        self, target: ChannelTarget, password: str, note: formatters.Notification, key: str
    ) -> None:
        cfg = target.config
        host, port = cfg["host"], int(cfg["port"])
        message = formatters.email_message(note, key, cfg["from_address"], cfg["to"])
        security = cfg["security"]
        sock = await self._connect(host, port, plain=security == "none")
        context = ssl.create_default_context(cadata=cfg["ca_pem"] or None)
        client = aiosmtplib.SMTP(
            hostname=host,
            sock=sock,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            tls_context=context,
            timeout=self._timeout,
            username=cfg["username"] or None,
            password=password or None,
        )
        try:
            async with client:
                await client.send_message(message)
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: try again later; 5xx (rejected, bad credentials): retrying will not help.
            raise DeliveryFailed(
                f"{host}: SMTP {exc.code} {exc.message[:200]}", retryable=exc.code < 500
            ) from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryFailed(f"{host}: {_describe(exc)}", retryable=True) from None
        # No sock.close() here: the client's transport owns the socket and closes it; closing
        # it under the transport would free the descriptor number while still registered.

    async def _connect(self, host: str, port: int, *, plain: bool = False) -> socket.socket:
        """A socket connected to an address the policy allows (the one that was checked);
        `plain` (no TLS will follow) holds every address to the listed networks."""
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        addresses = await self._policy.resolve(host, port)
        if plain:
            self._policy.check_plain_smtp(host, addresses)
        for address in addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (str(address), port)), self._timeout)
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                last = (
                    exc
                    if isinstance(exc, OSError)
                    else OSError(f"timed out after {self._timeout:g} s")
                )
        raise DeliveryFailed(f"{host}:{port}: cannot connect ({_describe(last)})", retryable=True)


def _describe(exc: BaseException | None) -> str:
    """An error class and OS reason, without the URL some exceptions carry in their text."""
    if exc is None:
        return "no address"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, aiosmtplib.SMTPException | ssl.SSLError):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return type(exc).__name__
