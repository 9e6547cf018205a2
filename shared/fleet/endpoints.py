"""Where an agent reaches the hub: the people's port for Join, the agent port for mTLS."""

from __future__ import annotations


def split_host_port(target: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> (host, port); ValueError naming the target."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"hub address {target!r}: expected host:port")
    return host.strip("[]"), int(port)


def agent_target(joined_through: str, agent_port: int) -> str:
    """The mTLS target for an agent that joined through `joined_through` ("host:port").

    The hub answers Join with its agent port; the host stays the one the agent used, so
    NAT and DNS names keep working.
    """
    host, _ = split_host_port(joined_through)
    if not 0 < agent_port < 65536:
        raise ValueError(f"agent port {agent_port}: expected 1-65535")
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{agent_port}"
