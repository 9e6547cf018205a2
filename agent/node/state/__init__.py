"""Local durable state of a fleet agent: desired deployments and the outbox to the hub."""

from modelfleet.agent.node.state._outbox import Outbox, Rollup, batch_of
from modelfleet.agent.node.state._store import AUDIT, ROLLUP, PendingEvent, StateStore

__all__ = ["AUDIT", "ROLLUP", "Outbox", "PendingEvent", "Rollup", "StateStore", "batch_of"]
