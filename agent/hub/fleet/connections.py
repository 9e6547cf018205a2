"""Open AgentSession streams by agent: where desired state is pushed and revocation bites."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

from modelfleet.fleet.identity import AgentIdentity
from modelfleet.proto.v1 import fleet_pb2

Outgoing = fleet_pb2.HubMessage | BaseException | None


@dataclass(eq=False)
class AgentConnection:
    """One open stream; its handler yields what is put on `outgoing` (None ends it)."""

    identity: AgentIdentity
    outgoing: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)
    pushed_revision: int = -1
    # What the last push held for this agent: a change elsewhere in the environment that
    # leaves it the same is not sent.
    pushed_content: bytes = b""

    def send(self, message: fleet_pb2.HubMessage) -> None:
        self.outgoing.put_nowait(message)

    def end(self, error: BaseException | None = None) -> None:
        """Make the stream's handler stop: with `error` raised, or cleanly."""
        self.outgoing.put_nowait(error)


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_agent: dict[str, AgentConnection] = {}

    def open(self, identity: AgentIdentity) -> tuple[AgentConnection, AgentConnection | None]:
        """Register a new stream; returns it and the stream it replaces (to be ended)."""
        conn = AgentConnection(identity)
        old = self._by_agent.get(identity.agent_id)
        self._by_agent[identity.agent_id] = conn
        return conn, old

    def close(self, conn: AgentConnection) -> None:
        if self._by_agent.get(conn.identity.agent_id) is conn:
            del self._by_agent[conn.identity.agent_id]

    def get(self, agent_id: str) -> AgentConnection | None:
        return self._by_agent.get(agent_id)

    def in_environment(self, workspace_id: str, environment: str) -> Iterator[AgentConnection]:
        for conn in list(self._by_agent.values()):
            if (
                conn.identity.workspace_id == workspace_id
                and conn.identity.environment == environment
            ):
                yield conn

    def environments(self) -> list[tuple[str, str]]:
        return sorted(
            {(c.identity.workspace_id, c.identity.environment) for c in self._by_agent.values()}
        )

    def __len__(self) -> int:
        return len(self._by_agent)
