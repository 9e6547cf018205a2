"""Plain frozen dataclasses the client hands out; no protobuf type leaks past the client."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


class Role(enum.StrEnum):
    """Workspace roles, weakest first."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    ADMIN = "admin"

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ValueError(f"role must be one of {names}, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class HubInfo:
    version: str
    ca_fingerprint: str
    ca_pem: str


@dataclass(frozen=True, slots=True)
class Membership:
    workspace_id: str
    workspace_name: str
    role: Role | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who the hub thinks the caller is: a user, an API key or an agent."""

    kind: str
    user_id: str
    username: str
    system_admin: bool
    memberships: tuple[Membership, ...]
    api_key_id: str | None


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime | None
    refresh_token: str
    refresh_expires_at: datetime | None
    principal: Principal | None

    def __repr__(self) -> str:  # tokens are secrets: keep them out of logs and tracebacks
        return (
            f"TokenPair(access_expires_at={self.access_expires_at!r}, principal={self.principal!r})"
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    workspace_id: str
    workspace_name: str
    role: Role | None
    prefix: str
    created_by: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new key and its secret, which the hub shows this once only."""

    key: ApiKey
    secret: str

    def __repr__(self) -> str:
        return f"CreatedApiKey(key={self.key!r})"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str
    display_name: str
    system_admin: bool
    disabled: bool
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedUser:
    user: User
    # Set only when the hub generated the password.
    one_time_password: str | None


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    description: str
    archived: bool
    created_at: datetime | None
    my_role: Role | None


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    username: str
    role: Role | None
    added_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    time: datetime | None
    actor_kind: str
    actor_id: str
    actor_name: str
    source: str
    workspace_id: str
    action: str
    target: str
    outcome: str
    details_json: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every field narrows the query; None leaves it open."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    rows_checked: int
    # The first row that breaks the chain and why ("edited", "deleted", ...); None when ok.
    first_bad_seq: int | None
    problem: str | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; pass `next_page_token` back for the next, None when done."""

    items: tuple[T, ...]
    next_page_token: str | None
