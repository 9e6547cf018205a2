"""Who is calling: access tokens in memory, API keys and workspaces through small TTL caches."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.access import apikey_secret
from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.access.principal import Principal, WorkspaceRef
from modelfleet.agent.hub.accounts import roles_of
from modelfleet.agent.hub.db import ApiKey, Database, Membership, RefreshToken, User, Workspace
from modelfleet.agent.hub.errors import Unauthenticated
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.tokens import TokenError, TokenVerifier

_MAX_CACHE = 50_000
T = TypeVar("T")
K = TypeVar("K")


@dataclass(slots=True)
class _Cached(Generic[T]):
    value: T
    loaded_at: float


class Authenticator:
    """Turns a bearer credential into a `Principal` and answers role and workspace questions.

    Access tokens are checked in memory. A change this replica makes to a user (roles,
    disabled, password, sign-out) marks the user, and that user's older tokens are then
    re-checked against the database; other replicas see such changes when the token
    expires (`access_token_ttl`) or the caches lapse.
    """

    def __init__(self, db: Database, verifier: TokenVerifier, settings: HubSettings) -> None:
        self._db = db
        self._verifier = verifier
        self._settings = settings
        self._changed_users: dict[str, float] = {}
        self._users: dict[tuple[str, str], _Cached[Principal]] = {}
        self._memberships: dict[tuple[str, str], _Cached[Role | None]] = {}
        self._api_keys: dict[str, _Cached[tuple[Principal, float]]] = {}
        self._workspaces: dict[str, _Cached[WorkspaceRef | None]] = {}

    # -- credentials -------------------------------------------------------------------

    async def authenticate(self, bearer: str) -> Principal:
        if bearer.startswith(apikey_secret.SCHEME):
            return await self._api_key(bearer)
        try:
            claims = self._verifier.verify(bearer)
        except TokenError as exc:
            raise Unauthenticated(str(exc)) from None
        changed = self._changed_users.get(claims.subject)
        if changed is not None and claims.issued_at <= changed:
            return await self._reloaded_user(claims.subject, claims.session_id)
        return Principal(
            kind=claims.kind,
            user_id=claims.subject,
            username=claims.name,
            system_admin=claims.system_admin,
            roles=claims.workspaces,  # type: ignore[arg-type]  # ints compare as Roles
            session_id=claims.session_id,
        )

    async def _reloaded_user(self, user_id: str, session_id: str) -> Principal:
        key = (user_id, session_id)
        cached = self._users.get(key)
        if cached is not None and cached.loaded_at > self._changed_users.get(user_id, 0.0):
            return cached.value
        loaded_at = time.time()
        principal = await self._db.read(lambda s: _load_user(s, user_id, session_id))
        self._remember(self._users, key, principal, loaded_at)
        return principal

    async def _api_key(self, secret: str) -> Principal:
        digest = apikey_secret.digest(secret)
        now = time.time()
        cached = self._api_keys.get(digest)
        if cached is not None and now - cached.loaded_at < self._settings.api_key_cache_ttl:
            principal, expires_at = cached.value
            if expires_at > now:
                return principal
            raise Unauthenticated("API key expired")
        prefix = apikey_secret.parse_prefix(secret)
        if prefix is None:
            raise Unauthenticated("malformed API key")
        value = await self._db.write(
            lambda s: _load_api_key(s, prefix, digest, self._settings.api_key_last_used_interval)
        )
        self._remember(self._api_keys, digest, value, now)
        return value[0]

    # -- roles and workspaces --------------------------------------------------------------

    async def role_in(self, principal: Principal, workspace_id: str) -> Role | None:
        role = principal.role_in(workspace_id)
        if role is not None or principal.kind != "user":
            return None if role is None else Role(role)
        # Not in the token: the user may have joined since it was issued.
        key = (principal.user_id, workspace_id)
        cached = self._memberships.get(key)
        now = time.time()
        if (
            cached is not None
            and now - cached.loaded_at < self._settings.membership_cache_ttl
            and cached.loaded_at > self._changed_users.get(principal.user_id, 0.0)
        ):
            return cached.value
        found = await self._db.read(lambda s: _membership(s, principal.user_id, workspace_id))
        self._remember(self._memberships, key, found, now)
        return found

    async def workspace(self, ref: str) -> WorkspaceRef | None:
        cached = self._workspaces.get(ref)
        now = time.time()
        if cached is not None and now - cached.loaded_at < self._settings.workspace_cache_ttl:
            return cached.value
        found = await self._db.read(lambda s: _workspace(s, ref))
        self._remember(self._workspaces, ref, found, now)
        return found

    # -- invalidation (this replica's own changes take effect at once) -----------------------

    def user_changed(self, user_id: str) -> None:
        self._changed_users[user_id] = time.time()

    def workspaces_changed(self) -> None:
        self._workspaces.clear()

    def api_keys_changed(self) -> None:
        self._api_keys.clear()

    @staticmethod
    def _remember(cache: dict[K, _Cached[T]], key: K, value: T, now: float) -> None:
        if len(cache) >= _MAX_CACHE:
            cache.clear()
        cache[key] = _Cached(value, now)


def _load_user(session: Session, user_id: str, session_id: str) -> Principal:
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise Unauthenticated("account disabled or removed; sign in again")
    if session_id:
        revoked = session.scalar(
            select(RefreshToken.id)
            .where(RefreshToken.family_id == session_id, RefreshToken.revoked_at.is_not(None))
            .limit(1)
        )
        if revoked is not None:
            raise Unauthenticated("signed out; sign in again")
    return Principal(
        kind="user",
        user_id=user.id,
        username=user.username,
        system_admin=user.system_admin,
        roles=roles_of(session, user.id),
        session_id=session_id,
    )


def _membership(session: Session, user_id: str, workspace_id: str) -> Role | None:
    role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.workspace_id == workspace_id
        )
    )
    return None if role is None else Role(role)


def _workspace(session: Session, ref: str) -> WorkspaceRef | None:
    row = session.execute(
        select(Workspace.id, Workspace.name, Workspace.archived).where(
            (Workspace.name == ref) | (Workspace.id == ref)
        )
    ).first()
    return None if row is None else WorkspaceRef(id=row[0], name=row[1], archived=row[2])


def _load_api_key(
    session: Session, prefix: str, digest: str, last_used_interval: float
) -> tuple[Principal, float]:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, digest):
        raise Unauthenticated("API key not recognised")
    now = datetime.now(UTC)
    if key.revoked_at is not None:
        raise Unauthenticated("API key revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthenticated("API key expired")
    creator = session.get(User, key.created_by)
    if creator is None or creator.disabled:
        raise Unauthenticated("API key's owner is disabled")
    # A key never outranks its creator's current role.
    owner_role = (
        Role.ADMIN if creator.system_admin else _membership(session, creator.id, key.workspace_id)
    )
    roles = {} if owner_role is None else {key.workspace_id: Role(min(key.role, owner_role))}
    if key.last_used_at is None or now - key.last_used_at > timedelta(seconds=last_used_interval):
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    expires = key.expires_at.timestamp() if key.expires_at is not None else float("inf")
    principal = Principal(
        kind="api_key",
        user_id=creator.id,
        username=creator.username,
        system_admin=False,
        roles=roles,
        api_key_id=key.id,
    )
    return principal, expires
