"""Outbound address policy (SSRF): where the hub may send notifications.

Names are resolved and every address checked; only public unicast addresses pass, unless
the hub's `outbound_allowed_networks` setting lists the network. The HTTP client connects
through `GuardedResolver`, so the address checked is the address used (no DNS rebinding
between the check and the connection).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(Exception):
    """A destination the policy refuses; the message names the host, never a URL path."""


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """The `outbound_allowed_networks` setting: comma-separated CIDRs."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"outbound_allowed_networks: expected CIDRs like 10.0.0.0/8, got {part!r}"
            ) from None
    return tuple(networks)


class OutboundPolicy:
    def __init__(self, allowed: tuple[IPNetwork, ...] = ()) -> None:
        self._allowed = allowed

    def check_address(self, host: str, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self._allowed):
            return
        if address.is_global and not address.is_multicast:
            return
        raise OutboundRefused(
            f"{host} resolves to {_kind(address)} address {address}; notifications go to "
            "public addresses only unless the hub setting outbound_allowed_networks lists it"
        )

    def check_plain_http(self, host: str, addresses: list[IPAddress]) -> None:
        """Plain http:// only inside networks the admin listed; public receivers need TLS."""
        if not self._all_listed(addresses):
            raise OutboundRefused(
                f"{host}: http:// is only for listed internal networks; use https://"
            )

    def check_plain_smtp(self, host: str, addresses: list[IPAddress]) -> None:
        """SMTP without TLS, like http://, only to servers inside the listed networks."""
        if not self._all_listed(addresses):
            raise OutboundRefused(
                f"{host}: SMTP without TLS (PLAINTEXT) is only for servers inside the hub "
                "setting outbound_allowed_networks"
            )

    def _all_listed(self, addresses: list[IPAddress]) -> bool:
        return all(any(a in net for net in self._allowed) for a in addresses)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of `host` the policy allows; OutboundRefused when none is."""
        literal = _literal(host)
        if literal is not None:
            self.check_address(host, literal)
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise OutboundRefused(f"{host} does not resolve") from None
        allowed: list[IPAddress] = []
        refusal: OutboundRefused | None = None
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            try:
                self.check_address(host, address)
            except OutboundRefused as exc:
                refusal = exc
                continue
            if address not in allowed:
                allowed.append(address)
        if not allowed:
            raise refusal or OutboundRefused(f"{host} does not resolve")
        return allowed


def check_url(url: str, *, field: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; ValueError naming `field` without echoing the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{field}: expected an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError(f"{field}: expected a URL without user:password@")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"{field}: expected a port between 1 and 65535") from None
    return parts.hostname, port


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, through the policy: only allowed addresses are ever connected."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._policy.resolve(host, port)
        return [
            ResolveResult(
                hostname=host,
                host=str(a),
                port=port,
                family=socket.AF_INET6 if a.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _kind(address: Any) -> str:
    for attr, name in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_private", "a private"),
    ):
        if getattr(address, attr):
            return name
    return "a non-public"
