"""IP allow-lists: CIDR parsing, the caller's real peer address, and the interceptor guard.

Workspaces keep one list for people and one for API keys; the hub keeps one for agents
(checked on the agent port). An empty list allows every address. Lists are cached per
replica for `ttl` seconds; this replica's own changes apply at once.
"""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import unquote

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.permissions import Access, Permission
from modelfleet.agent.hub.access.principal import Call
from modelfleet.agent.hub.db import Database
from modelfleet.agent.hub.db.security_models import AllowedNetworkRow
from modelfleet.agent.hub.errors import InvalidArgument, PermissionDenied

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PEOPLE, API_KEYS, AGENTS = "people", "api_keys", "agents"
_MAX_CACHE = 10_000


def parse_cidr(field: str, text: str) -> IPNetwork:
    """A CIDR (or a bare address: one host), IPv4 or IPv6, normalised to its network."""
    value = text.strip()
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidArgument(
            field, "a CIDR like 10.0.0.0/8, 203.0.113.7 or 2001:db8::/32", repr(value[:64])
        ) from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        mapped = network.network_address.ipv4_mapped
        if network.prefixlen >= 96:
            return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


def peer_address(peer: str) -> IPAddress | None:
    """The address in a gRPC peer string ("ipv4:1.2.3.4:5", "ipv6:[::1]:5"); None otherwise."""
    kind, _, rest = unquote(peer).partition(":")
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6":
        host = rest.rpartition(":")[0].strip("[]").split("%", 1)[0]
    else:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def allows(networks: tuple[IPNetwork, ...], address: IPAddress | None) -> bool:
    if not networks:
        return True
    return address is not None and any(address in n for n in networks)


def audience_of(call: Call, permission: Permission | None) -> tuple[str | None, str] | None:
    """(workspace id or None for the hub, audience) whose list applies to the call, if any."""
    principal = call.principal
    if principal is None:
        return None
    if principal.kind == "agent":
        return None, AGENTS
    if call.workspace is None or permission is None or permission.access is not Access.WORKSPACE:
        return None
    return call.workspace.id, API_KEYS if principal.kind == "api_key" else PEOPLE


class NetworkGuard:
    """Refuses admitted calls from addresses off the applicable allow-list."""

    def __init__(self, db: Database, ttl: float) -> None:
        self._db = db
        self._ttl = ttl
        self._cache: dict[tuple[str | None, str], tuple[float, tuple[IPNetwork, ...]]] = {}

    async def admit(self, call: Call, permission: Permission | None) -> None:
        scope = audience_of(call, permission)
        if scope is None:
            return
        networks = await self.networks(*scope)
        address = peer_address(call.peer)
        if allows(networks, address):
            return
        where = "the hub" if scope[0] is None else f"workspace {call.ws.name!r}"
        shown = str(address) if address is not None else "an unknown address"
        raise PermissionDenied(
            f"{call.action} refused: {shown} is not on the allow-list of {where} for "
            f"{scope[1].replace('_', ' ')}"
        )

    async def networks(self, workspace_id: str | None, audience: str) -> tuple[IPNetwork, ...]:
        key = (workspace_id, audience)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        cidrs = await self._db.read(lambda s: list_cidrs(s, workspace_id, audience))
        networks = tuple(ipaddress.ip_network(c) for c in cidrs)
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
        self._cache[key] = (now, networks)
        return networks

    def changed(self) -> None:
        self._cache.clear()


def scope_of(workspace_id: str | None) -> ColumnElement[bool]:
    """Rows of a workspace's lists, or of the hub's (no workspace)."""
    if workspace_id is None:
        return AllowedNetworkRow.workspace_id.is_(None)
    return AllowedNetworkRow.workspace_id == workspace_id


def list_cidrs(s: Session, workspace_id: str | None, audience: str) -> list[str]:
    return list(
        s.scalars(
            select(AllowedNetworkRow.cidr).where(
                scope_of(workspace_id), AllowedNetworkRow.audience == audience
            )
        ).all()
    )
