"""The per-workspace "MFA required" policy, enforced in the interceptor on workspace calls."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.permissions import Access, Permission
from modelfleet.agent.hub.access.principal import Call
from modelfleet.agent.hub.db import Database
from modelfleet.agent.hub.db.security_models import SessionFactors, WorkspaceSecurity
from modelfleet.agent.hub.errors import FailedPrecondition

_MAX_CACHE = 50_000
_Loader = Callable[[Session, str], bool]


class MfaGuard:
    """Refuses people whose sign-in had no second factor in workspaces that require one.

    API keys and agents are not people signing in and are not affected. The workspace flag
    and each session's factors are cached per replica for `ttl` seconds.
    """

    def __init__(self, db: Database, ttl: float) -> None:
        self._db = db
        self._ttl = ttl
        self._required: dict[str, tuple[float, bool]] = {}
        self._sessions: dict[str, tuple[float, bool]] = {}

    async def admit(self, call: Call, permission: Permission | None) -> None:
        principal = call.principal
        if (
            principal is None
            or principal.kind != "user"
            or call.workspace is None
            or permission is None
            or permission.access is not Access.WORKSPACE
        ):
            return
        workspace = call.workspace
        if not await self._cached(self._required, workspace.id, _required):
            return
        if await self._cached(self._sessions, principal.session_id, _session_mfa):
            return
        raise FailedPrecondition(
            f"workspace {workspace.name!r} requires multi-factor authentication and this "
            "sign-in used one factor: turn on TOTP (`modelfleet mfa enroll`) and sign in "
            "again with a code, or sign in through SSO with MFA"
        )

    async def _cached(self, cache: dict[str, tuple[float, bool]], key: str, load: _Loader) -> bool:
        now = time.monotonic()
        hit = cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        value = await self._db.read(lambda s: load(s, key))
        if len(cache) >= _MAX_CACHE:
            cache.clear()
        cache[key] = (now, value)
        return value

    def workspace_changed(self, workspace_id: str) -> None:
        self._required.pop(workspace_id, None)

    def session_changed(self, family_id: str) -> None:
        self._sessions.pop(family_id, None)


def _required(s: Session, workspace_id: str) -> bool:
    row = s.get(WorkspaceSecurity, workspace_id)
    return bool(row and row.mfa_required)


def _session_mfa(s: Session, family_id: str) -> bool:
    row = s.get(SessionFactors, family_id) if family_id else None
    return bool(row and row.mfa)
