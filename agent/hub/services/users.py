"""Users servicer: hub-wide account administration by system administrators."""

from __future__ import annotations

import asyncio
import base64

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.accounts import create_user, find_user
from modelfleet.agent.hub.db import User
from modelfleet.agent.hub.errors import Context, FailedPrecondition, InvalidArgument
from modelfleet.agent.hub.passwords import one_time_password
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.sessions import revoke_user_sessions
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import workspaces_pb2, workspaces_pb2_grpc

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def page_size(requested: int) -> int:
    return DEFAULT_PAGE if requested == 0 else min(requested, MAX_PAGE)


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_cursor(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page.page_token", "a token from a previous response") from None


class UsersServicer(workspaces_pb2_grpc.UsersServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def CreateUser(
        self, request: workspaces_pb2.CreateUserRequest, context: Context
    ) -> workspaces_pb2.CreateUserResponse:
        call = current_call()
        call.target = f"user:{request.username[:64]}"
        validation.name("username", request.username)
        generated = not request.password
        password = one_time_password() if generated else request.password
        validation.password("password", password)
        password_hash = await asyncio.to_thread(self._hub.passwords.hash, password)

        def create(s: Session) -> User:
            user = create_user(
                s,
                username=request.username,
                password_hash=password_hash,
                email=request.email,
                display_name=request.display_name,
                system_admin=request.system_admin,
            )
            record(s, call, details={"system_admin": user.system_admin})
            return user

        user = await self._hub.db.write(create)
        return workspaces_pb2.CreateUserResponse(
            user=convert.user(user), one_time_password=password if generated else ""
        )

    async def ListUsers(
        self, request: workspaces_pb2.ListUsersRequest, context: Context
    ) -> workspaces_pb2.ListUsersResponse:
        size = page_size(request.page.page_size)
        after = decode_cursor(request.page.page_token) if request.page.page_token else ""
        needle = validation.text("query", request.query, 128).lower()

        def list_users(s: Session) -> list[User]:
            query = select(User).where(User.username > after).order_by(User.username)
            if needle:
                pattern = (
                    "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                )
                query = query.where(
                    or_(
                        func.lower(User.username).like(pattern, escape="\\"),
                        func.lower(User.email).like(pattern, escape="\\"),
                        func.lower(User.display_name).like(pattern, escape="\\"),
                    )
                )
            return list(s.scalars(query.limit(size + 1)))

        rows = await self._hub.db.read(list_users)
        more = len(rows) > size
        rows = rows[:size]
        return workspaces_pb2.ListUsersResponse(
            users=[convert.user(u) for u in rows],
            next_page_token=encode_cursor(rows[-1].username) if more else "",
        )

    async def GetUser(
        self, request: workspaces_pb2.GetUserRequest, context: Context
    ) -> workspaces_pb2.User:
        user = await self._hub.db.read(lambda s: find_user(s, request.user))
        return convert.user(user)

    async def SetUserDisabled(
        self, request: workspaces_pb2.SetUserDisabledRequest, context: Context
    ) -> workspaces_pb2.User:
        call = current_call()
        call.target = f"user:{request.user[:64]}"

        def set_disabled(s: Session) -> User:
            user = find_user(s, request.user)
            if request.disabled and user.id == call.user.user_id:
                raise FailedPrecondition("user: you cannot disable your own account")
            if request.disabled and user.system_admin:
                _keep_one_admin(s, user)
            user.disabled = request.disabled
            if request.disabled:
                revoke_user_sessions(s, user.id)
            record(s, call, target=f"user:{user.username}", details={"disabled": request.disabled})
            return user

        user = await self._hub.db.write(set_disabled)
        self._hub.authenticator.user_changed(user.id)
        self._hub.authenticator.api_keys_changed()
        return convert.user(user)

    async def SetSystemAdmin(
        self, request: workspaces_pb2.SetSystemAdminRequest, context: Context
    ) -> workspaces_pb2.User:
        call = current_call()
        call.target = f"user:{request.user[:64]}"

        def set_admin(s: Session) -> User:
            user = find_user(s, request.user)
            if not request.system_admin and user.system_admin:
                _keep_one_admin(s, user)
            user.system_admin = request.system_admin
            record(
                s,
                call,
                target=f"user:{user.username}",
                details={"system_admin": request.system_admin},
            )
            return user

        user = await self._hub.db.write(set_admin)
        self._hub.authenticator.user_changed(user.id)
        self._hub.authenticator.api_keys_changed()
        return convert.user(user)

    async def ResetPassword(
        self, request: workspaces_pb2.ResetPasswordRequest, context: Context
    ) -> workspaces_pb2.ResetPasswordResponse:
        call = current_call()
        call.target = f"user:{request.user[:64]}"
        password = one_time_password()
        password_hash = await asyncio.to_thread(self._hub.passwords.hash, password)

        def reset(s: Session) -> User:
            user = find_user(s, request.user)
            user.password_hash = password_hash
            revoke_user_sessions(s, user.id)
            record(s, call, target=f"user:{user.username}")
            return user

        user = await self._hub.db.write(reset)
        self._hub.authenticator.user_changed(user.id)
        return workspaces_pb2.ResetPasswordResponse(one_time_password=password)


def _keep_one_admin(s: Session, user: User) -> None:
    others = s.scalar(
        select(func.count())
        .select_from(User)
        .where(User.system_admin.is_(True), User.disabled.is_(False), User.id != user.id)
    )
    if not others:
        raise FailedPrecondition(f"user: {user.username!r} is the last active system administrator")
