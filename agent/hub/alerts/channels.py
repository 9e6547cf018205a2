"""Notification channels: kinds, their checked (secret-free) configuration, and targets."""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelfleet.agent.hub.alerts.outbound import check_url
from modelfleet.agent.hub.errors import InvalidArgument

KINDS = ("email", "slack", "teams", "webhook")
SECRET_MEANING = {
    "email": "the SMTP password",
    "slack": "the Slack incoming-webhook URL",
    "teams": "the Teams incoming-webhook URL",
    "webhook": "the HMAC signing key",
}
MIN_SIGNING_KEY = 16
MAX_SECRET = 4096
MAX_RECIPIENTS = 50
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+")


@dataclass(frozen=True, slots=True)
class ChannelTarget:
    """Everything a sender needs except the secret, which is opened just before sending."""

    id: str
    name: str
    kind: str
    config: dict[str, Any]

    @property
    def summary(self) -> str:
        """Where notifications go, without secrets."""
        if self.kind == "email":
            return f"{self.config['host']}:{self.config['port']} -> {', '.join(self.config['to'])}"
        if self.kind == "webhook":
            host, _ = check_url(self.config["url"], field="url")
            return host
        return str(self.config.get("host", ""))


def check_email(
    host: str,
    port: int,
    username: str,
    from_address: str,
    to: Sequence[str],
    security: str,
    ca_pem: str,
    secret: str,
    plaintext_auth: bool = False,
) -> dict[str, Any]:
    """A checked e-mail config; `security` is "starttls", "tls" or "none" (plain SMTP, whose
    destination the caller must still hold to outbound_allowed_networks)."""
    if not host or not _HOST.fullmatch(host):
        raise InvalidArgument("email.host", "an SMTP server host name or IP address")
    if security not in _DEFAULT_PORTS:
        raise InvalidArgument("email.security", "STARTTLS, IMPLICIT_TLS or PLAINTEXT")
    if port > 65535:
        raise InvalidArgument("email.port", "a port between 1 and 65535, or 0 for the default")
    if not _ADDRESS.fullmatch(from_address):
        raise InvalidArgument("email.from_address", "an e-mail address like alerts@example.com")
    if not to or len(to) > MAX_RECIPIENTS:
        raise InvalidArgument("email.to", f"1 to {MAX_RECIPIENTS} recipient addresses")
    for index, address in enumerate(to):
        if not _ADDRESS.fullmatch(address):
            raise InvalidArgument(f"email.to[{index}]", "an e-mail address like ops@example.com")
    if bool(username) != bool(secret):
        raise InvalidArgument(
            "secret" if username else "email.username",
            "a username and a password (secret) together, or neither",
        )
    if len(username) > 254:
        raise InvalidArgument("email.username", "at most 254 characters")
    if plaintext_auth and security != "none":
        raise InvalidArgument("email.plaintext_auth", "false unless security is PLAINTEXT")
    if username and security == "none" and not plaintext_auth:
        raise InvalidArgument(
            "email.plaintext_auth",
            "true to send the username and password without TLS (or no username)",
            got="false",
        )
    if ca_pem:
        try:
            ssl.create_default_context(cadata=ca_pem)
        except (ssl.SSLError, ValueError):
            raise InvalidArgument("email.ca_pem", "PEM CA certificates") from None
    return {
        "host": host.strip("[]"),
        "port": port or _DEFAULT_PORTS[security],
        "username": username,
        "from_address": from_address,
        "to": list(to),
        "security": security,
        "plaintext_auth": plaintext_auth,
        "ca_pem": ca_pem,
    }


def check_webhook_url(kind: str, url: str) -> dict[str, Any]:
    """Config of a Slack/Teams channel (the URL is the secret) or a webhook (it is not)."""
    field = "webhook.url" if kind == "webhook" else "secret"
    if not url:
        raise InvalidArgument(field, f"{SECRET_MEANING[kind]} (https://...)", got="empty")
    try:
        host, _ = check_url(url, field=field)
    except ValueError as exc:
        raise InvalidArgument(field, str(exc).split(": expected ", 1)[-1]) from None
    return {"url": url} if kind == "webhook" else {"host": host}


def check_secret(kind: str, secret: str) -> None:
    if len(secret) > MAX_SECRET:
        raise InvalidArgument("secret", f"at most {MAX_SECRET} characters")
    if kind == "webhook" and len(secret) < MIN_SIGNING_KEY:
        raise InvalidArgument(
            "secret", f"{SECRET_MEANING[kind]}, at least {MIN_SIGNING_KEY} characters"
        )
