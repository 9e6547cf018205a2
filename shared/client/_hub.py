"""`HubClient`: typed methods for every hub RPC (auth, API keys, users, workspaces, audit;
registry and artifacts through `RegistryCalls`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType

from modelfleet.client import _convert as cv
from modelfleet.client._alerts_calls import AlertsCalls
from modelfleet.client._calls import Caller, Scope, open_channel
from modelfleet.client._credentials import StoredTokens
from modelfleet.client._errors import ConfigurationError
from modelfleet.client._fleet_calls import FleetCalls
from modelfleet.client._registry_calls import RegistryCalls
from modelfleet.client._settings import ClientSettings
from modelfleet.client._signin_calls import SignInCalls
from modelfleet.client._tracking_calls import TrackingCalls
from modelfleet.client._trust import root_certificates
from modelfleet.client._types import (
    ApiKey,
    AuditEvent,
    AuditFilter,
    AuditVerification,
    CreatedApiKey,
    CreatedUser,
    HubInfo,
    Member,
    Page,
    Principal,
    Role,
    TokenPair,
    User,
    Workspace,
)
from modelfleet.proto.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    workspaces_pb2,
    workspaces_pb2_grpc,
)


class HubClient(RegistryCalls, TrackingCalls, FleetCalls, AlertsCalls, SignInCalls):
    """A connection to one hub with one identity (signed-in user or API key).

    Registry and artifact calls come from `RegistryCalls` (see `_registry_calls.py`).

    Every call has a deadline; idempotent reads are retried with backoff when the hub is
    unavailable; an expired access token is refreshed transparently and `on_tokens` is
    told about every new token pair (to persist the rotated refresh token).
    """

    def __init__(self, caller: Caller) -> None:
        self._caller = caller
        channel = caller.channel
        self._auth = auth_pb2_grpc.AuthStub(channel)
        self._keys = auth_pb2_grpc.ApiKeysStub(channel)
        self._users = workspaces_pb2_grpc.UsersStub(channel)
        self._workspaces = workspaces_pb2_grpc.WorkspacesStub(channel)
        self._audit = audit_pb2_grpc.AuditStub(channel)

    @classmethod
    def connect(
        cls,
        settings: ClientSettings,
        *,
        tokens: StoredTokens | None = None,
        on_tokens: Callable[[TokenPair], None] | None = None,
    ) -> HubClient:
        """Open a TLS channel per `settings` (the CA pin is checked here, before any call)."""
        if not settings.hub:
            raise ConfigurationError("no hub address: pass --hub HOST:PORT or set MODELFLEET_HUB")
        if not settings.hub_ca:
            raise ConfigurationError(
                "the hub is not trusted yet: pass --hub-ca with the CA file or its "
                "sha256:... fingerprint (or set MODELFLEET_HUB_CA)"
            )
        roots = root_certificates(settings.hub, settings.hub_ca)
        channel = open_channel(settings.hub, roots, settings.tls_server_name)
        caller = Caller(
            channel,
            api_key=settings.api_key,
            tokens=None if settings.api_key else tokens,
            workspace=settings.workspace,
            timeout=settings.timeout,
            retries=settings.retries,
            on_tokens=on_tokens,
        )
        return cls(caller)

    @property
    def workspace(self) -> str | None:
        return self._caller.workspace

    def close(self) -> None:
        self._caller.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- Auth -------------------------------------------------------------------------

    def get_hub_info(self) -> HubInfo:
        msg = self._caller.unary(
            "Auth.GetHubInfo", self._auth.GetHubInfo, auth_pb2.GetHubInfoRequest(),
            idempotent=True, authenticated=False,
        )  # fmt: skip
        return cv.hub_info_from_pb(msg)

    def login(self, username: str, password: str, totp_code: str = "") -> TokenPair:
        request = auth_pb2.LoginRequest(username=username, password=password, totp_code=totp_code)
        msg = self._caller.unary(
            "Auth.Login", self._auth.Login, request, idempotent=False, authenticated=False
        )
        pair = cv.token_pair_from_pb(msg)
        self._caller.adopt(pair)
        return pair

    def refresh(self) -> TokenPair:
        return self._caller.refresh()

    def logout(self) -> None:
        """Revoke the held refresh token's family on the hub and forget it here."""
        refresh_token = self._caller.refresh_token
        if refresh_token:
            self._caller.unary(
                "Auth.Logout", self._auth.Logout,
                auth_pb2.LogoutRequest(refresh_token=refresh_token), idempotent=False,
            )  # fmt: skip
        self._caller.forget()

    def change_password(self, current_password: str, new_password: str) -> None:
        request = auth_pb2.ChangePasswordRequest(
            current_password=current_password, new_password=new_password
        )
        self._caller.unary(
            "Auth.ChangePassword", self._auth.ChangePassword, request, idempotent=False
        )

    def whoami(self) -> Principal:
        msg = self._caller.unary(
            "Auth.WhoAmI", self._auth.WhoAmI, auth_pb2.WhoAmIRequest(), idempotent=True
        )
        return cv.principal_from_pb(msg)

    # --- API keys (workspace-scoped) ----------------------------------------------------

    def create_api_key(
        self,
        name: str,
        role: Role,
        expires_at: datetime | None = None,
        *,
        workspace: str | None = None,
    ) -> CreatedApiKey:
        msg = self._caller.unary(
            "ApiKeys.CreateApiKey", self._keys.CreateApiKey,
            cv.create_api_key_request(name, role, expires_at), idempotent=False,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return cv.created_api_key_from_pb(msg)

    def list_api_keys(
        self, include_revoked: bool = False, *, workspace: str | None = None
    ) -> list[ApiKey]:
        msg = self._caller.unary(
            "ApiKeys.ListApiKeys", self._keys.ListApiKeys,
            auth_pb2.ListApiKeysRequest(include_revoked=include_revoked), idempotent=True,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return [cv.api_key_from_pb(k) for k in msg.keys]

    def revoke_api_key(self, key_id: str, *, workspace: str | None = None) -> ApiKey:
        msg = self._caller.unary(
            "ApiKeys.RevokeApiKey", self._keys.RevokeApiKey,
            auth_pb2.RevokeApiKeyRequest(id=key_id), idempotent=False,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return cv.api_key_from_pb(msg)

    # --- Users (system admins) ----------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        email: str = "",
        display_name: str = "",
        password: str = "",
        system_admin: bool = False,
    ) -> CreatedUser:
        """An empty `password` makes the hub generate a one-time one (in the result)."""
        request = workspaces_pb2.CreateUserRequest(
            username=username, email=email, display_name=display_name,
            password=password, system_admin=system_admin,
        )  # fmt: skip
        msg = self._caller.unary(
            "Users.CreateUser", self._users.CreateUser, request, idempotent=False
        )
        return cv.created_user_from_pb(msg)

    def list_users(
        self, query: str = "", *, page_size: int = 0, page_token: str | None = None
    ) -> Page[User]:
        request = workspaces_pb2.ListUsersRequest(
            page=cv.page_request(page_size, page_token), query=query
        )
        msg = self._caller.unary("Users.ListUsers", self._users.ListUsers, request, idempotent=True)
        return Page(tuple(cv.user_from_pb(u) for u in msg.users), msg.next_page_token or None)

    def iter_users(self, query: str = "") -> Iterator[User]:
        """Every matching user, page after page."""
        token: str | None = None
        while True:
            page = self.list_users(query, page_token=token)
            yield from page.items
            if not (token := page.next_page_token):
                return

    def get_user(self, user: str) -> User:
        msg = self._caller.unary(
            "Users.GetUser", self._users.GetUser, workspaces_pb2.GetUserRequest(user=user),
            idempotent=True,
        )  # fmt: skip
        return cv.user_from_pb(msg)

    def set_user_disabled(self, user: str, disabled: bool) -> User:
        request = workspaces_pb2.SetUserDisabledRequest(user=user, disabled=disabled)
        msg = self._caller.unary(
            "Users.SetUserDisabled", self._users.SetUserDisabled, request, idempotent=False
        )
        return cv.user_from_pb(msg)

    def set_system_admin(self, user: str, system_admin: bool) -> User:
        request = workspaces_pb2.SetSystemAdminRequest(user=user, system_admin=system_admin)
        msg = self._caller.unary(
            "Users.SetSystemAdmin", self._users.SetSystemAdmin, request, idempotent=False
        )
        return cv.user_from_pb(msg)

    def reset_password(self, user: str) -> str:
        """Returns the new one-time password."""
        msg = self._caller.unary(
            "Users.ResetPassword", self._users.ResetPassword,
            workspaces_pb2.ResetPasswordRequest(user=user), idempotent=False,
        )  # fmt: skip
        return msg.one_time_password

    # --- Workspaces -----------------------------------------------------------------------

    def create_workspace(self, name: str, description: str = "") -> Workspace:
        msg = self._caller.unary(
            "Workspaces.CreateWorkspace", self._workspaces.CreateWorkspace,
            workspaces_pb2.CreateWorkspaceRequest(name=name, description=description),
            idempotent=False,
        )  # fmt: skip
        return cv.workspace_from_pb(msg)

    def list_workspaces(self, include_archived: bool = False) -> list[Workspace]:
        msg = self._caller.unary(
            "Workspaces.ListWorkspaces", self._workspaces.ListWorkspaces,
            workspaces_pb2.ListWorkspacesRequest(include_archived=include_archived),
            idempotent=True,
        )  # fmt: skip
        return [cv.workspace_from_pb(w) for w in msg.workspaces]

    def get_workspace(self, *, workspace: str | None = None) -> Workspace:
        msg = self._caller.unary(
            "Workspaces.GetWorkspace", self._workspaces.GetWorkspace,
            workspaces_pb2.GetWorkspaceRequest(), idempotent=True,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return cv.workspace_from_pb(msg)

    def rename_workspace(self, new_name: str, *, workspace: str | None = None) -> Workspace:
        msg = self._caller.unary(
            "Workspaces.RenameWorkspace", self._workspaces.RenameWorkspace,
            workspaces_pb2.RenameWorkspaceRequest(new_name=new_name), idempotent=False,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return cv.workspace_from_pb(msg)

    def archive_workspace(self, *, workspace: str | None = None) -> Workspace:
        msg = self._caller.unary(
            "Workspaces.ArchiveWorkspace", self._workspaces.ArchiveWorkspace,
            workspaces_pb2.ArchiveWorkspaceRequest(), idempotent=False,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return cv.workspace_from_pb(msg)

    def list_members(self, *, workspace: str | None = None) -> list[Member]:
        msg = self._caller.unary(
            "Workspaces.ListMembers", self._workspaces.ListMembers,
            workspaces_pb2.ListMembersRequest(), idempotent=True,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return [cv.member_from_pb(m) for m in msg.members]

    def set_member(self, user: str, role: Role, *, workspace: str | None = None) -> Member:
        """Add `user` to the workspace with `role`, or change their role."""
        msg = self._caller.unary(
            "Workspaces.SetMember", self._workspaces.SetMember,
            workspaces_pb2.SetMemberRequest(user=user, role=cv.role_to_pb(role)),
            idempotent=False, scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return cv.member_from_pb(msg)

    def remove_member(self, user: str, *, workspace: str | None = None) -> None:
        self._caller.unary(
            "Workspaces.RemoveMember", self._workspaces.RemoveMember,
            workspaces_pb2.RemoveMemberRequest(user=user), idempotent=False,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip

    # --- Audit ------------------------------------------------------------------------------

    def query_audit(
        self,
        audit_filter: AuditFilter | None = None,
        *,
        page_size: int = 0,
        page_token: str | None = None,
        oldest_first: bool = False,
        workspace: str | None = None,
    ) -> Page[AuditEvent]:
        """Events of the workspace (workspace admins); hub-wide without one (system admins)."""
        request = audit_pb2.QueryAuditRequest(
            filter=cv.audit_filter_to_pb(audit_filter),
            page=cv.page_request(page_size, page_token),
            oldest_first=oldest_first,
        )
        msg = self._caller.unary(
            "Audit.QueryAudit", self._audit.QueryAudit, request, idempotent=True,
            scope=Scope.OPTIONAL, workspace=workspace,
        )  # fmt: skip
        events = tuple(cv.audit_event_from_pb(e) for e in msg.events)
        return Page(events, msg.next_page_token or None)

    def export_audit(
        self,
        audit_filter: AuditFilter | None = None,
        *,
        fmt: str = "jsonl",
        workspace: str | None = None,
    ) -> Iterator[bytes]:
        """The matching events as JSON Lines or CSV bytes, streamed in chunks."""
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"format must be 'jsonl' or 'csv', got {fmt!r}")
        request = audit_pb2.ExportAuditRequest(
            filter=cv.audit_filter_to_pb(audit_filter), format=fmt
        )
        for chunk in self._caller.stream(
            "Audit.ExportAudit", self._audit.ExportAudit, request,
            scope=Scope.OPTIONAL, workspace=workspace,
        ):  # fmt: skip
            yield chunk.data

    def verify_audit(self) -> AuditVerification:
        msg = self._caller.unary(
            "Audit.VerifyAudit", self._audit.VerifyAudit, audit_pb2.VerifyAuditRequest(),
            idempotent=True,
        )  # fmt: skip
        return cv.audit_verification_from_pb(msg)
