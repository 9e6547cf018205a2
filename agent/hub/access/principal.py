"""Who is calling and in which workspace: set by the interceptor, read by the servicers."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelfleet.agent.hub.access.permissions import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user (roles per workspace id) or an API key (one workspace)."""

    kind: str
    user_id: str
    username: str
    system_admin: bool
    roles: Mapping[str, Role]
    session_id: str = ""
    api_key_id: str = ""

    @property
    def actor_id(self) -> str:
        return self.api_key_id or self.user_id

    def role_in(self, workspace_id: str) -> Role | None:
        role = self.roles.get(workspace_id)
        if self.system_admin and self.kind == "user":
            return Role.ADMIN
        return role


@dataclass(frozen=True, slots=True)
class WorkspaceRef:
    id: str
    name: str
    archived: bool


@dataclass(slots=True)
class Call:
    """One RPC as the servicers see it."""

    method: str
    action: str
    peer: str
    principal: Principal | None = None
    workspace: WorkspaceRef | None = None
    role: Role | None = None
    # Set once the call's own audit row is written in the servicer's transaction.
    audited: bool = False
    # What the fallback audit row (error outcome) should name as target.
    target: str = ""
    details: dict[str, object] = field(default_factory=dict)

    @property
    def user(self) -> Principal:
        """The authenticated principal (the interceptor guarantees one for non-public calls)."""
        assert self.principal is not None, f"{self.action} reached without a principal"
        return self.principal

    @property
    def ws(self) -> WorkspaceRef:
        assert self.workspace is not None, f"{self.action} reached without a workspace"
        return self.workspace


_current: contextvars.ContextVar[Call] = contextvars.ContextVar("modelfleet_hub_call")


def current_call() -> Call:
    return _current.get()


def set_current_call(call: Call) -> contextvars.Token[Call]:
    return _current.set(call)
