"""Users, workspaces and memberships as units of work inside a caller's session."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.db.models import Membership, User, Workspace
from modelfleet.agent.hub.errors import AlreadyExists, NotFound


def find_user(session: Session, ref: str, *, field: str = "user") -> User:
    """A user by id or username; NOT_FOUND otherwise."""
    validation.required(field, ref, "a user id or username")
    user = session.scalars(select(User).where(or_(User.id == ref, User.username == ref))).first()
    if user is None:
        raise NotFound(f"{field}: no user {ref!r}")
    return user


def create_user(
    session: Session,
    *,
    username: str,
    password_hash: str,
    email: str = "",
    display_name: str = "",
    system_admin: bool = False,
) -> User:
    validation.name("username", username)
    validation.email("email", email)
    validation.text("display_name", display_name, 128)
    if session.scalar(select(func.count()).where(User.username == username)):
        raise AlreadyExists(f"username: a user named {username!r} already exists")
    user = User(
        username=username,
        password_hash=password_hash,
        email=email,
        display_name=display_name,
        system_admin=system_admin,
    )
    session.add(user)
    session.flush()
    return user


def check_workspace_name_free(session: Session, name: str, *, field: str = "name") -> None:
    validation.name(field, name)
    if session.scalar(select(func.count()).where(Workspace.name == name)):
        raise AlreadyExists(f"{field}: a workspace named {name!r} already exists")


def create_workspace(session: Session, *, name: str, description: str, owner_id: str) -> Workspace:
    """A new workspace administered by `owner_id`."""
    check_workspace_name_free(session, name)
    validation.text("description", description, 1024)
    workspace = Workspace(name=name, description=description, created_by=owner_id)
    session.add(workspace)
    session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=owner_id, role=int(Role.ADMIN)))
    session.flush()
    return workspace


def roles_of(session: Session, user_id: str) -> dict[str, Role]:
    """The user's role per workspace id (archived ones included: they stay readable)."""
    rows = session.execute(
        select(Membership.workspace_id, Membership.role).where(Membership.user_id == user_id)
    ).all()
    return {ws: Role(role) for ws, role in rows}
