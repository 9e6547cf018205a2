"""Agent principals from verified client certificates, and revocation that takes effect at once."""

from __future__ import annotations

import time

from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.access.principal import Principal
from modelfleet.agent.hub.db import Database
from modelfleet.agent.hub.db.fleet_models import Agent
from modelfleet.agent.hub.errors import Unauthenticated
from modelfleet.agent.hub.fleet.certs import fingerprint, identity_of
from modelfleet.fleet.identity import AgentIdentity, IdentityError

_MAX_CERTS = 50_000
# How long a replica trusts its last look at an agent row; revocations made on this
# replica apply at once, those made on another replica within this time.
RECHECK_SECONDS = 5.0


class AgentDirectory:
    """Caches certificate parsing by fingerprint and agent liveness by id."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._certs: dict[str, AgentIdentity] = {}
        self._checked: dict[str, float] = {}
        self._revoked: set[str] = set()

    async def authenticate(self, cert_pem: bytes) -> Principal:
        key = fingerprint(cert_pem)
        identity = self._certs.get(key)
        if identity is None:
            try:
                identity, _ = identity_of(cert_pem)
            except (ValueError, IdentityError):
                raise Unauthenticated("client certificate does not name an agent") from None
            if len(self._certs) >= _MAX_CERTS:
                self._certs.clear()
            self._certs[key] = identity
        agent_id = identity.agent_id
        if agent_id in self._revoked:
            raise Unauthenticated(f"agent {agent_id} is revoked")
        if time.monotonic() - self._checked.get(agent_id, -RECHECK_SECONDS) >= RECHECK_SECONDS:
            row = await self._db.read(lambda s: s.get(Agent, agent_id))
            if row is None or row.revoked_at is not None:
                self._revoked.add(agent_id)
                raise Unauthenticated(f"agent {agent_id} is revoked")
            self._checked[agent_id] = time.monotonic()
        # The one workspace in `roles` is the agent's; it acts there as a viewer.
        return Principal(
            kind="agent",
            user_id=agent_id,
            username=f"agent:{agent_id}",
            system_admin=False,
            roles={identity.workspace_id: Role.VIEWER},
        )

    def revoked(self, agent_id: str) -> None:
        self._revoked.add(agent_id)
        self._checked.pop(agent_id, None)

    def is_revoked(self, agent_id: str) -> bool:
        return agent_id in self._revoked
