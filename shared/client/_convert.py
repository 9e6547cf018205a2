"""The one conversion layer between the hub's protobuf messages and the client's dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.client._types import (
    ApiKey,
    AuditEvent,
    AuditFilter,
    AuditVerification,
    CreatedApiKey,
    CreatedUser,
    HubInfo,
    Member,
    Membership,
    Principal,
    Role,
    TokenPair,
    User,
    Workspace,
)
from modelfleet.proto.v1 import audit_pb2, auth_pb2, common_pb2, workspaces_pb2

_ROLE_FROM_PB = {
    common_pb2.VIEWER: Role.VIEWER,
    common_pb2.DEVELOPER: Role.DEVELOPER,
    common_pb2.ADMIN: Role.ADMIN,
}
_ROLE_TO_PB = {role: value for value, role in _ROLE_FROM_PB.items()}


def role_from_pb(value: common_pb2.Role.ValueType) -> Role | None:
    return _ROLE_FROM_PB.get(value)


def role_to_pb(role: Role | None) -> common_pb2.Role.ValueType:
    return common_pb2.ROLE_UNSPECIFIED if role is None else _ROLE_TO_PB[role]


def time_from_pb(ts: Timestamp) -> datetime | None:
    """An unset (all-zero) timestamp means "none"; set ones come back timezone-aware UTC."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def time_to_pb(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def page_request(page_size: int, page_token: str | None) -> common_pb2.PageRequest:
    if page_size < 0:
        raise ValueError(f"page_size must be >= 0, got {page_size}")
    return common_pb2.PageRequest(page_size=page_size, page_token=page_token or "")


def hub_info_from_pb(msg: auth_pb2.HubInfo) -> HubInfo:
    return HubInfo(version=msg.version, ca_fingerprint=msg.ca_fingerprint, ca_pem=msg.ca_pem)


def principal_from_pb(msg: auth_pb2.Principal) -> Principal:
    return Principal(
        kind=msg.kind,
        user_id=msg.user_id,
        username=msg.username,
        system_admin=msg.system_admin,
        memberships=tuple(
            Membership(m.workspace_id, m.workspace_name, role_from_pb(m.role))
            for m in msg.memberships
        ),
        api_key_id=msg.api_key_id or None,
    )


def token_pair_from_pb(msg: auth_pb2.TokenPair) -> TokenPair:
    return TokenPair(
        access_token=msg.access_token,
        access_expires_at=time_from_pb(msg.access_expires_at),
        refresh_token=msg.refresh_token,
        refresh_expires_at=time_from_pb(msg.refresh_expires_at),
        principal=principal_from_pb(msg.principal) if msg.HasField("principal") else None,
    )


def api_key_from_pb(msg: auth_pb2.ApiKey) -> ApiKey:
    return ApiKey(
        id=msg.id,
        name=msg.name,
        workspace_id=msg.workspace_id,
        workspace_name=msg.workspace_name,
        role=role_from_pb(msg.role),
        prefix=msg.prefix,
        created_by=msg.created_by,
        created_at=time_from_pb(msg.created_at),
        expires_at=time_from_pb(msg.expires_at),
        revoked_at=time_from_pb(msg.revoked_at),
        last_used_at=time_from_pb(msg.last_used_at),
    )


def created_api_key_from_pb(msg: auth_pb2.CreateApiKeyResponse) -> CreatedApiKey:
    return CreatedApiKey(key=api_key_from_pb(msg.key), secret=msg.secret)


def create_api_key_request(
    name: str, role: Role, expires_at: datetime | None
) -> auth_pb2.CreateApiKeyRequest:
    return auth_pb2.CreateApiKeyRequest(
        name=name, role=role_to_pb(role), expires_at=time_to_pb(expires_at)
    )


def user_from_pb(msg: workspaces_pb2.User) -> User:
    return User(
        id=msg.id,
        username=msg.username,
        email=msg.email,
        display_name=msg.display_name,
        system_admin=msg.system_admin,
        disabled=msg.disabled,
        created_at=time_from_pb(msg.created_at),
    )


def created_user_from_pb(msg: workspaces_pb2.CreateUserResponse) -> CreatedUser:
    return CreatedUser(user=user_from_pb(msg.user), one_time_password=msg.one_time_password or None)


def workspace_from_pb(msg: workspaces_pb2.Workspace) -> Workspace:
    return Workspace(
        id=msg.id,
        name=msg.name,
        description=msg.description,
        archived=msg.archived,
        created_at=time_from_pb(msg.created_at),
        my_role=role_from_pb(msg.my_role),
    )


def member_from_pb(msg: workspaces_pb2.Member) -> Member:
    return Member(
        user_id=msg.user_id,
        username=msg.username,
        role=role_from_pb(msg.role),
        added_at=time_from_pb(msg.added_at),
    )


def audit_event_from_pb(msg: audit_pb2.AuditEvent) -> AuditEvent:
    return AuditEvent(
        seq=msg.seq,
        time=time_from_pb(msg.time),
        actor_kind=msg.actor_kind,
        actor_id=msg.actor_id,
        actor_name=msg.actor_name,
        source=msg.source,
        workspace_id=msg.workspace_id,
        action=msg.action,
        target=msg.target,
        outcome=msg.outcome,
        details_json=msg.details_json,
        prev_hash=msg.prev_hash,
        hash=msg.hash,
    )


def audit_filter_to_pb(value: AuditFilter | None) -> audit_pb2.AuditFilter:
    if value is None:
        return audit_pb2.AuditFilter()
    return audit_pb2.AuditFilter(
        since=time_to_pb(value.since),
        until=time_to_pb(value.until),
        actor=value.actor or "",
        action=value.action or "",
        target=value.target or "",
        outcome=value.outcome or "",
    )


def audit_verification_from_pb(msg: audit_pb2.VerifyAuditResponse) -> AuditVerification:
    return AuditVerification(
        ok=msg.ok,
        rows_checked=msg.rows_checked,
        first_bad_seq=msg.first_bad_seq or None,
        problem=msg.problem or None,
    )
