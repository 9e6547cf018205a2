"""Rows and domain objects to `modelfleet.v1` messages (the only place servicers meet _pb2)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.agent.hub.access.apikey_secret import display_prefix
from modelfleet.agent.hub.db import ApiKey, AuditEvent, User, Workspace
from modelfleet.proto.v1 import audit_pb2, auth_pb2, workspaces_pb2


def timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp of an aware datetime (a naive one is taken as local time, as
    `astimezone` does). Computed here: `Timestamp.FromDatetime` costs several times more,
    and a page of runs converts hundreds."""
    if value is None:
        return None
    delta = (value if value.tzinfo is not None else value.astimezone(UTC)) - _EPOCH
    return Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def user(row: User) -> workspaces_pb2.User:
    return workspaces_pb2.User(
        id=row.id,
        username=row.username,
        email=row.email,
        display_name=row.display_name,
        system_admin=row.system_admin,
        disabled=row.disabled,
        created_at=timestamp(row.created_at),
    )


def workspace(row: Workspace, my_role: int) -> workspaces_pb2.Workspace:
    return workspaces_pb2.Workspace(
        id=row.id,
        name=row.name,
        description=row.description,
        archived=row.archived,
        created_at=timestamp(row.created_at),
        my_role=my_role,  # type: ignore[arg-type]
    )


def api_key(row: ApiKey, workspace_name: str, creator: str) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=row.id,
        name=row.name,
        workspace_id=row.workspace_id,
        workspace_name=workspace_name,
        role=row.role,  # type: ignore[arg-type]
        prefix=display_prefix(row.prefix),
        created_by=creator,
        created_at=timestamp(row.created_at),
        expires_at=timestamp(row.expires_at),
        revoked_at=timestamp(row.revoked_at),
        last_used_at=timestamp(row.last_used_at),
    )


def audit_event(row: AuditEvent) -> audit_pb2.AuditEvent:
    ts = Timestamp()
    ts.FromMicroseconds(row.time_us)
    return audit_pb2.AuditEvent(
        seq=row.seq,
        time=ts,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        source=row.source,
        workspace_id=row.workspace_id,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        details_json=row.details_json,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
