"""Auth and ApiKeys servicers: sign-in, token rotation, sign-out, passwords, API keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access import apikey_secret
from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.access.principal import Call, Principal, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import ApiKey, Membership, User, Workspace
from modelfleet.agent.hub.errors import (
    Context,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from modelfleet.agent.hub.mfa.factors import (
    MFA_REQUIRED_METADATA,
    login_second_factor,
    record_session,
)
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.sessions import (
    IssuedTokens,
    Rejected,
    revoke_family,
    revoke_user_sessions,
)
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

_WRONG = "wrong username or password"


class AuthServicer(auth_pb2_grpc.AuthServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def GetHubInfo(
        self, request: auth_pb2.GetHubInfoRequest, context: Context
    ) -> auth_pb2.HubInfo:
        return auth_pb2.HubInfo(
            version=self._hub.version,
            ca_fingerprint=self._hub.ca_fingerprint,
            ca_pem=self._hub.ca_pem.decode(),
            agent_port=self._hub.fleet.agent_port if self._hub.fleet is not None else 0,
        )

    async def Login(self, request: auth_pb2.LoginRequest, context: Context) -> auth_pb2.TokenPair:
        call = current_call()
        username = validation.required("username", request.username, "a username")
        validation.required("password", request.password, "a password")
        call.target = f"user:{username[:64]}"
        keys = self._hub.throttle.keys(username, call.peer)
        self._hub.throttle.check(keys)
        user = await self._hub.db.read(
            lambda s: s.scalar(select(User).where(User.username == username))
        )
        good = await asyncio.to_thread(
            self._hub.passwords.verify, user.password_hash if user else None, request.password
        )
        if user is None or not good or user.disabled:
            self._hub.throttle.failed(keys)
            await self._hub.db.write(
                lambda s: record(s, call, outcome="denied", details={"reason": "bad credentials"})
            )
            raise Unauthenticated(_WRONG)
        amr = await self._second_factor(call, user.id, request.totp_code, keys, context)
        self._hub.throttle.succeeded(keys[0])

        def sign_in(s: Session) -> IssuedTokens:
            issued = self._hub.sessions.issue(s, s.get_one(User, user.id))
            record_session(s, issued.family_id, user.id, amr)
            record(
                s,
                call,
                actor=("user", user.id, user.username),
                details={"session": issued.family_id},
            )
            return issued

        issued = await self._hub.db.write(sign_in)
        return await self._token_pair(issued)

    async def _second_factor(
        self, call: Call, user_id: str, code: str, keys: tuple[str, str], context: Context
    ) -> list[str]:
        """The sign-in's `amr`; a user with TOTP on must add a code (or a recovery code)."""
        box = self._hub.secrets
        result = await self._hub.db.write(lambda s: login_second_factor(s, box, user_id, code))
        if result is None:
            return ["pwd"]
        if not result.failure:
            return ["pwd", result.amr]
        self._hub.throttle.failed(keys)
        await self._hub.db.write(
            lambda s: record(
                s, call, outcome="denied", details={"reason": f"second factor: {result.failure}"}
            )
        )
        context.set_trailing_metadata(((MFA_REQUIRED_METADATA, "totp"),))
        raise Unauthenticated(f"totp_code: {result.failure}")

    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: Context
    ) -> auth_pb2.TokenPair:
        call = current_call()
        token = validation.required("refresh_token", request.refresh_token, "a refresh token")

        def rotate(s: Session) -> IssuedTokens | Rejected:
            result = self._hub.sessions.rotate(s, token)
            if isinstance(result, Rejected):
                outcome = "denied"
                actor = ("user", result.user_id, "") if result.user_id else None
                details = {"reason": result.reason}
                record(s, call, outcome=outcome, actor=actor, details=details)
            else:
                user = result.user
                record(
                    s,
                    call,
                    actor=("user", user.id, user.username),
                    details={"session": result.family_id},
                )
            return result

        result = await self._hub.db.write(rotate)
        if isinstance(result, Rejected):
            if result.family_revoked:
                self._hub.authenticator.user_changed(result.user_id)
            raise Unauthenticated(result.reason)
        return await self._token_pair(result)

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> auth_pb2.LogoutResponse:
        call = current_call()
        token = validation.required("refresh_token", request.refresh_token, "a refresh token")

        def logout(s: Session) -> str:
            found = self._hub.sessions.find_family(s, token)
            if found is None:
                raise Unauthenticated("refresh token not recognised")
            user_id, family = found
            revoke_family(s, family)
            record(
                s,
                call,
                actor=("user", user_id, ""),
                target=f"user:{user_id}",
                details={"session": family},
            )
            return user_id

        user_id = await self._hub.db.write(logout)
        self._hub.authenticator.user_changed(user_id)
        return auth_pb2.LogoutResponse()

    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        call = current_call()
        me = call.user
        call.target = f"user:{me.username}"
        validation.required("current_password", request.current_password, "your current password")
        validation.password("new_password", request.new_password)
        keys = self._hub.throttle.keys(me.username, call.peer)
        self._hub.throttle.check(keys)
        user = await self._hub.db.read(lambda s: s.get(User, me.user_id))
        if user is None:
            raise Unauthenticated("account removed")
        ok = await asyncio.to_thread(
            self._hub.passwords.verify, user.password_hash, request.current_password
        )
        if not ok:
            self._hub.throttle.failed(keys)
            await self._hub.db.write(
                lambda s: record(
                    s, call, outcome="denied", details={"reason": "wrong current password"}
                )
            )
            raise PermissionDenied("current_password: does not match")
        new_hash = await asyncio.to_thread(self._hub.passwords.hash, request.new_password)

        def change(s: Session) -> None:
            s.execute(update(User).where(User.id == me.user_id).values(password_hash=new_hash))
            revoke_user_sessions(s, me.user_id, keep_family=me.session_id)
            record(s, call)

        await self._hub.db.write(change)
        self._hub.authenticator.user_changed(me.user_id)
        return auth_pb2.ChangePasswordResponse()

    async def WhoAmI(self, request: auth_pb2.WhoAmIRequest, context: Context) -> auth_pb2.Principal:
        me = current_call().user
        return await self._hub.db.read(lambda s: principal_message(s, me))

    async def _token_pair(self, issued: IssuedTokens) -> auth_pb2.TokenPair:
        return await token_pair_message(self._hub, issued)


async def token_pair_message(hub: HubState, issued: IssuedTokens) -> auth_pb2.TokenPair:
    """What every sign-in (password, refresh, SSO) answers with."""
    user = issued.user
    me = Principal("user", user.id, user.username, user.system_admin, {}, issued.family_id)
    principal = await hub.db.read(lambda s: principal_message(s, me))
    return auth_pb2.TokenPair(
        access_token=issued.access_token,
        access_expires_at=convert.timestamp(issued.access_expires_at),
        refresh_token=issued.refresh_token,
        refresh_expires_at=convert.timestamp(issued.refresh_expires_at),
        principal=principal,
    )


def principal_message(s: Session, me: Principal) -> auth_pb2.Principal:
    """The caller with current memberships (an API key: its one workspace and role)."""
    if me.kind == "api_key":
        rows = s.execute(
            select(Workspace.id, Workspace.name).where(Workspace.id.in_(list(me.roles)))
        ).all()
        memberships = [
            auth_pb2.Membership(workspace_id=i, workspace_name=n, role=int(me.roles[i]))  # type: ignore[arg-type]
            for i, n in rows
        ]
        system_admin = False
    else:
        user = s.get(User, me.user_id)
        system_admin = bool(user and user.system_admin)
        member_rows = s.execute(
            select(Workspace.id, Workspace.name, Membership.role)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == me.user_id)
            .order_by(Workspace.name)
        ).all()
        memberships = [
            auth_pb2.Membership(workspace_id=i, workspace_name=n, role=r)  # type: ignore[arg-type]
            for i, n, r in member_rows
        ]
    return auth_pb2.Principal(
        kind=me.kind,
        user_id=me.user_id,
        username=me.username,
        system_admin=system_admin,
        memberships=memberships,
        api_key_id=me.api_key_id,
    )


class ApiKeysServicer(auth_pb2_grpc.ApiKeysServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreateApiKeyResponse:
        call = current_call()
        name = validation.name("name", request.name)
        role = validation.role("role", request.role)
        assert call.role is not None
        if role > call.role:
            raise PermissionDenied(
                f"role: an API key cannot outrank its creator (you are {call.role.name})"
            )
        expires = None
        if request.HasField("expires_at"):
            expires = convert.from_timestamp(request.expires_at)
            if expires <= datetime.now(UTC):
                raise InvalidArgument("expires_at", "a time in the future, or unset")
        secret = apikey_secret.new_secret()

        def create(s: Session) -> ApiKey:
            row = ApiKey(
                name=name,
                workspace_id=call.ws.id,
                created_by=call.user.user_id,
                role=int(role),
                prefix=secret.prefix,
                secret_hash=secret.digest,
                expires_at=expires,
            )
            s.add(row)
            s.flush()
            details = {
                "name": name,
                "role": role.name,
                "expires_at": expires.isoformat() if expires else None,
            }
            record(s, call, target=f"api_key:{row.id}", details=details)
            return row

        row = await self._hub.db.write(create)
        return auth_pb2.CreateApiKeyResponse(
            key=convert.api_key(row, call.ws.name, call.user.username), secret=secret.secret
        )

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Context
    ) -> auth_pb2.ListApiKeysResponse:
        call = current_call()

        def list_keys(s: Session) -> list[auth_pb2.ApiKey]:
            query = (
                select(ApiKey, User.username)
                .join(User, User.id == ApiKey.created_by)
                .where(_visible_keys(call))
                .order_by(ApiKey.created_at)
            )
            if not request.include_revoked:
                query = query.where(ApiKey.revoked_at.is_(None))
            return [convert.api_key(k, call.ws.name, u) for k, u in s.execute(query).all()]

        return auth_pb2.ListApiKeysResponse(keys=await self._hub.db.read(list_keys))

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.ApiKey:
        call = current_call()
        key_id = validation.required("id", request.id, "an API key id")
        call.target = f"api_key:{key_id[:64]}"

        def revoke(s: Session) -> tuple[ApiKey, str]:
            found = s.execute(
                select(ApiKey, User.username)
                .join(User, User.id == ApiKey.created_by)
                .where(ApiKey.id == key_id, _visible_keys(call))
            ).first()
            if found is None:
                raise NotFound(f"id: no API key {key_id!r} in this workspace")
            key, creator = found
            if key.revoked_at is None:
                key.revoked_at = datetime.now(UTC)
            record(s, call, details={"name": key.name})
            return key, creator

        key, creator = await self._hub.db.write(revoke)
        self._hub.authenticator.api_keys_changed()
        return convert.api_key(key, call.ws.name, creator)


def _visible_keys(call: Call) -> ColumnElement[bool]:
    """Keys of the caller's workspace; only their own unless they administer it."""
    in_workspace = ApiKey.workspace_id == call.ws.id
    if call.role is not None and call.role >= Role.ADMIN:
        return in_workspace
    return in_workspace & (ApiKey.created_by == call.user.user_id)
