"""Workspaces servicer: create, list, rename, archive, and memberships with roles."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.accounts import check_workspace_name_free, create_workspace, find_user
from modelfleet.agent.hub.db import Membership, User, Workspace
from modelfleet.agent.hub.errors import Context, FailedPrecondition, NotFound
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import workspaces_pb2, workspaces_pb2_grpc


class WorkspacesServicer(workspaces_pb2_grpc.WorkspacesServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def CreateWorkspace(
        self, request: workspaces_pb2.CreateWorkspaceRequest, context: Context
    ) -> workspaces_pb2.Workspace:
        call = current_call()
        call.target = f"workspace:{request.name[:64]}"

        def create(s: Session) -> Workspace:
            ws = create_workspace(
                s, name=request.name, description=request.description, owner_id=call.user.user_id
            )
            record(s, call, workspace_id=ws.id, details={"name": ws.name})
            return ws

        ws = await self._hub.db.write(create)
        self._hub.authenticator.user_changed(call.user.user_id)
        return convert.workspace(ws, Role.ADMIN)

    async def ListWorkspaces(
        self, request: workspaces_pb2.ListWorkspacesRequest, context: Context
    ) -> workspaces_pb2.ListWorkspacesResponse:
        me = current_call().user

        def list_workspaces(s: Session) -> list[workspaces_pb2.Workspace]:
            query = select(Workspace, Membership.role).outerjoin(
                Membership,
                (Membership.workspace_id == Workspace.id) & (Membership.user_id == me.user_id),
            )
            if me.kind == "api_key":
                query = query.where(Workspace.id.in_(list(me.roles)))
            elif not me.system_admin:
                query = query.where(Membership.user_id == me.user_id)
            if not request.include_archived:
                query = query.where(Workspace.archived.is_(False))
            out = []
            for ws, role in s.execute(query.order_by(Workspace.name)).all():
                mine = me.role_in(ws.id) if me.kind == "api_key" else role
                if me.system_admin and me.kind == "user":
                    mine = Role.ADMIN
                out.append(convert.workspace(ws, int(mine or 0)))
            return out

        return workspaces_pb2.ListWorkspacesResponse(
            workspaces=await self._hub.db.read(list_workspaces)
        )

    async def GetWorkspace(
        self, request: workspaces_pb2.GetWorkspaceRequest, context: Context
    ) -> workspaces_pb2.Workspace:
        call = current_call()
        ws = await self._hub.db.read(lambda s: s.get_one(Workspace, call.ws.id))
        return convert.workspace(ws, _my_role(call))

    async def RenameWorkspace(
        self, request: workspaces_pb2.RenameWorkspaceRequest, context: Context
    ) -> workspaces_pb2.Workspace:
        call = current_call()
        call.target = f"workspace:{call.ws.name}"

        def rename(s: Session) -> Workspace:
            ws = s.get_one(Workspace, call.ws.id)
            if request.new_name != ws.name:
                check_workspace_name_free(s, request.new_name, field="new_name")
            old, ws.name = ws.name, request.new_name
            record(s, call, details={"old_name": old, "new_name": ws.name})
            return ws

        ws = await self._hub.db.write(rename)
        self._hub.authenticator.workspaces_changed()
        return convert.workspace(ws, _my_role(call))

    async def ArchiveWorkspace(
        self, request: workspaces_pb2.ArchiveWorkspaceRequest, context: Context
    ) -> workspaces_pb2.Workspace:
        call = current_call()
        call.target = f"workspace:{call.ws.name}"

        def archive(s: Session) -> Workspace:
            ws = s.get_one(Workspace, call.ws.id)
            ws.archived = True
            record(s, call)
            return ws

        ws = await self._hub.db.write(archive)
        self._hub.authenticator.workspaces_changed()
        return convert.workspace(ws, _my_role(call))

    async def ListMembers(
        self, request: workspaces_pb2.ListMembersRequest, context: Context
    ) -> workspaces_pb2.ListMembersResponse:
        call = current_call()

        def list_members(s: Session) -> list[workspaces_pb2.Member]:
            rows = s.execute(
                select(Membership, User.username)
                .join(User, User.id == Membership.user_id)
                .where(Membership.workspace_id == call.ws.id)
                .order_by(User.username)
            ).all()
            return [_member(m, name) for m, name in rows]

        return workspaces_pb2.ListMembersResponse(members=await self._hub.db.read(list_members))

    async def SetMember(
        self, request: workspaces_pb2.SetMemberRequest, context: Context
    ) -> workspaces_pb2.Member:
        call = current_call()
        call.target = f"user:{request.user[:64]}"
        role = validation.role("role", request.role)

        def set_member(s: Session) -> tuple[Membership, User]:
            user = find_user(s, request.user)
            member = s.get(Membership, (call.ws.id, user.id))
            before = None if member is None else Role(member.role)
            if member is None:
                member = Membership(workspace_id=call.ws.id, user_id=user.id, role=int(role))
                s.add(member)
            else:
                if before is Role.ADMIN and role < Role.ADMIN:
                    _keep_one_admin(s, call.ws.id, user.id)
                member.role = int(role)
            s.flush()
            details = {"role": role.name, "previous": before.name if before else None}
            record(s, call, target=f"user:{user.username}", details=details)
            return member, user

        member, user = await self._hub.db.write(set_member)
        self._hub.authenticator.user_changed(user.id)
        self._hub.authenticator.api_keys_changed()
        return _member(member, user.username)

    async def RemoveMember(
        self, request: workspaces_pb2.RemoveMemberRequest, context: Context
    ) -> workspaces_pb2.RemoveMemberResponse:
        call = current_call()
        call.target = f"user:{request.user[:64]}"

        def remove(s: Session) -> str:
            user = find_user(s, request.user)
            member = s.get(Membership, (call.ws.id, user.id))
            if member is None:
                raise NotFound(f"user: {request.user!r} is not a member of {call.ws.name!r}")
            if member.role == Role.ADMIN:
                _keep_one_admin(s, call.ws.id, user.id)
            s.delete(member)
            record(
                s, call, target=f"user:{user.username}", details={"role": Role(member.role).name}
            )
            return user.id

        user_id = await self._hub.db.write(remove)
        self._hub.authenticator.user_changed(user_id)
        self._hub.authenticator.api_keys_changed()
        return workspaces_pb2.RemoveMemberResponse()


def _my_role(call: Call) -> int:
    return int(call.role or 0)


def _member(m: Membership, username: str) -> workspaces_pb2.Member:
    return workspaces_pb2.Member(
        user_id=m.user_id,
        username=username,
        role=m.role,  # type: ignore[arg-type]
        added_at=convert.timestamp(m.added_at),
    )


def _keep_one_admin(s: Session, workspace_id: str, leaving_user_id: str) -> None:
    others = s.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role == int(Role.ADMIN),
            Membership.user_id != leaving_user_id,
        )
    )
    if not others:
        raise FailedPrecondition("user: the workspace would be left without an admin")
