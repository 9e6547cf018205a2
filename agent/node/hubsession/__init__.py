"""The agent's session with the hub: mutual TLS, the bidirectional stream, host facts."""

from modelfleet.agent.node.hubsession._channel import mtls_channel
from modelfleet.agent.node.hubsession._session import HubSession

__all__ = ["HubSession", "mtls_channel"]
