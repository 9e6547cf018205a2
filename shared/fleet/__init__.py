"""Fleet pieces shared by hub and agent: join tokens, agent identities, label selectors."""

from modelfleet.fleet.identity import AgentIdentity, IdentityError
from modelfleet.fleet.jointoken import JoinToken, JoinTokenError
from modelfleet.fleet.selectors import format_labels, matches, parse_labels

__all__ = [
    "AgentIdentity",
    "IdentityError",
    "JoinToken",
    "JoinTokenError",
    "format_labels",
    "matches",
    "parse_labels",
]
