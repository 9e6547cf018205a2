"""Host-header check against DNS rebinding, and what counts as a loopback address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from modelfleet.agent.node.errors import InvalidInput, MisdirectedRequest

#: `--allowed-hosts *` turns the check off
ANY_HOST = "*"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_CACHE_LIMIT = 256


def is_loopback(host: str) -> bool:
    """True for loopback IP literals and `localhost` (wildcards such as 0.0.0.0 are not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("", "0.0.0.0", "::")


class HostCheck:
    """Accepts a Host naming the bound address (any IP literal when bound to a wildcard),
    localhost or an allowed name.

    A browser tricked by DNS rebinding sends the attacker's name as Host, so refusing unknown
    names keeps web pages away from the agent. Requests without Host are not a browser's and
    pass.
    """

    def __init__(self, bound: str, allowed: Sequence[str]) -> None:
        names = {n.strip().lower().strip("[]") for n in allowed if n.strip()}
        # An IP literal or localhost in Host cannot come from a rebound name.
        self._any_ip = is_wildcard(bound)
        if not self._any_ip:
            names.add(bound.lower().strip("[]"))
        names.update(_LOOPBACK_NAMES)
        self.names = frozenset(names)
        self._seen: dict[bytes, bool] = {}

    def check(self, host: bytes | None) -> None:
        """Raise MisdirectedRequest (421) or InvalidInput (400) for a refused Host."""
        if host is None:
            return
        verdict = self._seen.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self._seen) < _CACHE_LIMIT:
                self._seen[host] = verdict
        if not verdict:
            shown = host.decode("latin-1")[:100]
            raise MisdirectedRequest(
                f"Host {shown!r} is not a name this agent answers for "
                f"({', '.join(sorted(self.names))}); add it with --allowed-hosts"
            )

    def _judge(self, host: bytes) -> bool:
        try:
            text = host.decode("ascii").strip().lower()
        except UnicodeDecodeError:
            raise InvalidInput("Host header: expected an ASCII host[:port]") from None
        if text.startswith("["):
            name, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else rest
        else:
            name, _, port = text.rpartition(":") if ":" in text else (text, "", "")
        if port and not port.isdigit():
            raise InvalidInput(f"Host header: {text[:100]!r} has a malformed port")
        name = name.rstrip(".")
        return name in self.names or (self._any_ip and _is_ip(name))


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
