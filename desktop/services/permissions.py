"""What the signed-in person may do, derived from their Principal (the hub still enforces)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from modelfleet.client import Principal, Role, Workspace


@dataclass(frozen=True)
class Permissions:
    """Mirrors the hub's rules so the UI hides what would be refused anyway."""

    signed_in: bool = False
    system_admin: bool = False
    # Role in the current workspace; system admins act as admins everywhere, as on the hub.
    role: Role | None = None

    @classmethod
    def of(
        cls, principal: Principal, workspace: str | None, known: Iterable[Workspace] = ()
    ) -> Permissions:
        admin = principal.system_admin and principal.kind == "user"
        role = Role.ADMIN if admin else None
        if role is None and workspace:
            roles = {m.workspace_name: m.role for m in principal.memberships}
            # Workspaces listed since sign-in carry the role the token may not have yet.
            roles.update({w.name: w.my_role for w in known if w.my_role is not None})
            role = roles.get(workspace)
        return cls(signed_in=True, system_admin=admin, role=role)

    def _at_least(self, role: Role) -> bool:
        order = list(Role)
        return self.role is not None and order.index(self.role) >= order.index(role)

    @property
    def manage_users(self) -> bool:
        return self.system_admin

    @property
    def create_workspace(self) -> bool:
        return self.signed_in

    @property
    def administer_workspace(self) -> bool:
        """Rename, archive, add/remove members, change roles."""
        return self._at_least(Role.ADMIN)

    @property
    def see_workspace(self) -> bool:
        """Members and API keys of the workspace (read, and one's own keys)."""
        return self._at_least(Role.VIEWER)

    @property
    def read_audit(self) -> bool:
        return self._at_least(Role.ADMIN) or self.system_admin

    @property
    def verify_audit(self) -> bool:
        return self.system_admin

    def grantable_roles(self) -> list[Role]:
        """Roles an API key may get: never more than the creator's own."""
        order = list(Role)
        return order[: order.index(self.role) + 1] if self.role is not None else []
