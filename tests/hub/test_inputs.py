"""Bad input: each answered with its precise status and field, with nothing stored changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from modelfleet.proto.v1 import auth_pb2, workspaces_pb2
from tests.hub.conftest import ADMIN, VIEWER, Hub

INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXISTS = grpc.StatusCode.ALREADY_EXISTS
MISSING = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

# (service, method, request, workspace header, expected code, text the message must contain)
CASES: list[tuple[str, str, Message, str | None, grpc.StatusCode, str]] = [
    (
        "workspaces",
        "CreateWorkspace",
        workspaces_pb2.CreateWorkspaceRequest(name=""),
        None,
        INVALID,
        "name: expected 1-64",
    ),
    (
        "workspaces",
        "CreateWorkspace",
        workspaces_pb2.CreateWorkspaceRequest(name="x" * 65),
        None,
        INVALID,
        "65 characters",
    ),
    (
        "workspaces",
        "CreateWorkspace",
        workspaces_pb2.CreateWorkspaceRequest(name="Team A"),
        None,
        INVALID,
        "'Team A'",
    ),
    (
        "workspaces",
        "CreateWorkspace",
        workspaces_pb2.CreateWorkspaceRequest(name="-team"),
        None,
        INVALID,
        "name:",
    ),
    (
        "workspaces",
        "CreateWorkspace",
        workspaces_pb2.CreateWorkspaceRequest(name="team"),
        None,
        EXISTS,
        "already exists",
    ),
    (
        "workspaces",
        "CreateWorkspace",
        workspaces_pb2.CreateWorkspaceRequest(name="ok", description="d" * 1025),
        None,
        INVALID,
        "description",
    ),
    (
        "workspaces",
        "RenameWorkspace",
        workspaces_pb2.RenameWorkspaceRequest(new_name="default"),
        "team",
        EXISTS,
        "new_name",
    ),
    (
        "workspaces",
        "RenameWorkspace",
        workspaces_pb2.RenameWorkspaceRequest(new_name=""),
        "team",
        INVALID,
        "new_name",
    ),
    (
        "workspaces",
        "SetMember",
        workspaces_pb2.SetMemberRequest(user="ghost", role=VIEWER),
        "team",
        MISSING,
        "ghost",
    ),
    (
        "workspaces",
        "SetMember",
        workspaces_pb2.SetMemberRequest(user="ann", role=0),
        "team",
        INVALID,
        "role: expected VIEWER, DEVELOPER or ADMIN",
    ),
    (
        "workspaces",
        "SetMember",
        workspaces_pb2.SetMemberRequest(user="ann", role=7),
        "team",
        INVALID,
        "role",
    ),
    (
        "workspaces",
        "SetMember",
        workspaces_pb2.SetMemberRequest(user="admin", role=VIEWER),
        "team",
        PRECONDITION,
        "without an admin",
    ),
    (
        "workspaces",
        "RemoveMember",
        workspaces_pb2.RemoveMemberRequest(user="ann"),
        "team",
        MISSING,
        "not a member",
    ),
    (
        "workspaces",
        "RemoveMember",
        workspaces_pb2.RemoveMemberRequest(user=""),
        "team",
        INVALID,
        "user",
    ),
    (
        "workspaces",
        "GetWorkspace",
        workspaces_pb2.GetWorkspaceRequest(),
        "no-such-ws",
        MISSING,
        "no-such-ws",
    ),
    (
        "users",
        "CreateUser",
        workspaces_pb2.CreateUserRequest(username="ann"),
        None,
        EXISTS,
        "username",
    ),
    (
        "users",
        "CreateUser",
        workspaces_pb2.CreateUserRequest(username=""),
        None,
        INVALID,
        "username",
    ),
    (
        "users",
        "CreateUser",
        workspaces_pb2.CreateUserRequest(username="bob", password="short"),
        None,
        INVALID,
        "password: expected 8-1024",
    ),
    (
        "users",
        "CreateUser",
        workspaces_pb2.CreateUserRequest(username="bob", email="not-mail"),
        None,
        INVALID,
        "email",
    ),
    ("users", "GetUser", workspaces_pb2.GetUserRequest(user="0" * 32), None, MISSING, "no user"),
    (
        "users",
        "SetUserDisabled",
        workspaces_pb2.SetUserDisabledRequest(user="admin", disabled=True),
        None,
        PRECONDITION,
        "your own account",
    ),
    (
        "users",
        "SetSystemAdmin",
        workspaces_pb2.SetSystemAdminRequest(user="admin", system_admin=False),
        None,
        PRECONDITION,
        "last active system administrator",
    ),
    (
        "users",
        "ListUsers",
        workspaces_pb2.ListUsersRequest(query="q" * 129),
        None,
        INVALID,
        "query",
    ),
    (
        "api_keys",
        "CreateApiKey",
        auth_pb2.CreateApiKeyRequest(name="", role=VIEWER),
        "team",
        INVALID,
        "name",
    ),
    (
        "api_keys",
        "CreateApiKey",
        auth_pb2.CreateApiKeyRequest(name="ci", role=0),
        "team",
        INVALID,
        "role",
    ),
    (
        "api_keys",
        "RevokeApiKey",
        auth_pb2.RevokeApiKeyRequest(id="0" * 32),
        "team",
        MISSING,
        "no API key",
    ),
    (
        "auth",
        "Refresh",
        auth_pb2.RefreshRequest(refresh_token="mfr_forged"),
        None,
        grpc.StatusCode.UNAUTHENTICATED,
        "not recognised",
    ),
    ("auth", "Logout", auth_pb2.LogoutRequest(refresh_token=""), None, INVALID, "refresh_token"),
    (
        "auth",
        "ChangePassword",
        auth_pb2.ChangePasswordRequest(current_password="admin-password-1", new_password="123"),
        None,
        INVALID,
        "new_password",
    ),
]


@pytest.fixture
def seeded(hub: Hub) -> Hub:
    hub.add_workspace("team")
    hub.add_user("ann")
    return hub


def test_bad_inputs(seeded: Hub) -> None:
    hub = seeded
    before = hub.snapshot()
    failures = []
    for service, method, request, workspace, code, fragment in CASES:
        rpc: Callable[..., Any] = getattr(getattr(hub, service), method)
        try:
            rpc(request, metadata=hub.admin_md(workspace), timeout=20)
            failures.append(f"{method}: succeeded")
            continue
        except grpc.RpcError as exc:
            got, details = exc.code(), exc.details() or ""
        if got != code or fragment not in details:
            failures.append(f"{method} {request}: {got.name} {details!r}")
    assert not failures, "\n".join(failures)
    assert hub.snapshot() == before


def test_archived_workspace_is_read_only(seeded: Hub) -> None:
    hub = seeded
    hub.set_member("team", "ann", ADMIN)
    hub.workspaces.ArchiveWorkspace(
        workspaces_pb2.ArchiveWorkspaceRequest(), metadata=hub.admin_md("team")
    )
    before = hub.snapshot()
    with pytest.raises(grpc.RpcError) as err:
        hub.workspaces.RenameWorkspace(
            workspaces_pb2.RenameWorkspaceRequest(new_name="team2"), metadata=hub.admin_md("team")
        )
    assert err.value.code() == PRECONDITION and "archived" in (err.value.details() or "")
    assert hub.snapshot() == before
    got = hub.workspaces.GetWorkspace(
        workspaces_pb2.GetWorkspaceRequest(), metadata=hub.admin_md("team")
    )
    assert got.archived
    listed = hub.workspaces.ListWorkspaces(
        workspaces_pb2.ListWorkspacesRequest(), metadata=hub.admin_md()
    )
    assert "team" not in [w.name for w in listed.workspaces]
    listed = hub.workspaces.ListWorkspaces(
        workspaces_pb2.ListWorkspacesRequest(include_archived=True), metadata=hub.admin_md()
    )
    assert "team" in [w.name for w in listed.workspaces]


def test_missing_workspace_header_and_foreign_workspace(seeded: Hub) -> None:
    hub = seeded
    with pytest.raises(grpc.RpcError) as err:
        hub.workspaces.ListMembers(workspaces_pb2.ListMembersRequest(), metadata=hub.admin_md())
    assert err.value.code() == INVALID and "x-modelfleet-workspace" in (err.value.details() or "")
    ann = hub.token("ann", "password-123")
    answers = set()
    for ref in ("team", "no-such-ws"):
        with pytest.raises(grpc.RpcError) as err:
            hub.workspaces.GetWorkspace(
                workspaces_pb2.GetWorkspaceRequest(), metadata=hub.md(ann, ref)
            )
        answers.add((err.value.code(), (err.value.details() or "").replace(ref, "<ws>")))
    # A workspace that exists and one that does not look the same to an outsider.
    assert answers == {(grpc.StatusCode.PERMISSION_DENIED, "no access to workspace '<ws>'")}
