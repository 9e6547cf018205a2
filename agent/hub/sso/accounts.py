"""From a validated ID token to a hub user: linking, domain rules, JIT creation, role mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.accounts import create_user
from modelfleet.agent.hub.db import Membership, User, Workspace
from modelfleet.agent.hub.db.security_models import SsoIdentity, SsoProviderRow
from modelfleet.agent.hub.errors import PermissionDenied
from modelfleet.agent.hub.sso.providers import allowed_domains, role_mappings

_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class SsoUser:
    user: User
    created: bool
    amr: list[str]
    roles_granted: dict[str, str]


def verified_email(provider: SsoProviderRow, claims: Mapping[str, Any]) -> str:
    """The token's email if the provider vouches for it, else ""."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return ""
    # Entra ID has no email_verified; it marks a verified domain owner with xms_edov.
    vouched = claims.get("email_verified") is True or (
        provider.preset == "microsoft" and claims.get("xms_edov") is True
    )
    return email.lower() if vouched else ""


def sign_in(s: Session, provider: SsoProviderRow, claims: Mapping[str, Any]) -> SsoUser:
    """The hub user for these claims, created or linked per the provider's settings."""
    subject = str(claims["sub"])[:255]
    email = verified_email(provider, claims)
    domains = allowed_domains(provider)
    if domains:
        domain = email.rpartition("@")[2]
        if not email:
            raise PermissionDenied(
                f"provider {provider.name!r} admits only verified e-mail addresses of "
                f"{', '.join(domains)}; the identity provider sent none"
            )
        if domain not in domains:
            raise PermissionDenied(
                f"e-mail domain {domain!r} is not allowed for provider {provider.name!r}"
            )
    identity = s.scalar(
        select(SsoIdentity).where(
            SsoIdentity.provider_id == provider.id, SsoIdentity.subject == subject
        )
    )
    created = False
    if identity is not None:
        user = s.get_one(User, identity.user_id)
    else:
        linked = (
            s.scalar(select(User).where(func.lower(User.email) == email).limit(1))
            if email
            else None
        )
        if linked is not None:
            user = linked
        elif provider.jit_user_creation:
            user = create_user(
                s,
                username=_free_username(s, claims, email, subject),
                password_hash="",  # no password: this account signs in through SSO only
                email=email,
                display_name=str(claims.get("name") or "")[:128],
            )
            created = True
        else:
            shown = email or f"subject {subject[:64]!r}"
            raise PermissionDenied(
                f"no account for {shown} on this hub, and provider {provider.name!r} does "
                "not create accounts on first sign-in; ask an administrator to add you"
            )
        identity = SsoIdentity(provider_id=provider.id, subject=subject, user_id=user.id)
        s.add(identity)
    if user.disabled:
        raise PermissionDenied(f"account {user.username!r} is disabled")
    identity.email = email
    identity.last_login_at = datetime.now(UTC)
    granted = _apply_mappings(s, provider, user.id, claims)
    amr = claims.get("amr")
    methods = [str(a)[:32] for a in amr][:8] if isinstance(amr, list) else []
    s.flush()
    return SsoUser(user=user, created=created, amr=methods, roles_granted=granted)


def _apply_mappings(
    s: Session, provider: SsoProviderRow, user_id: str, claims: Mapping[str, Any]
) -> dict[str, str]:
    """Set the highest matching role in each workspace a rule maps the user to.

    Workspaces no rule matches keep whatever membership an admin gave by hand.
    """
    best: dict[str, int] = {}
    for rule in role_mappings(provider):
        value = claims.get(rule["claim"])
        matches = rule["value"] in value if isinstance(value, list) else value == rule["value"]
        if matches:
            best[rule["workspace_id"]] = max(best.get(rule["workspace_id"], 0), rule["role"])
    granted: dict[str, str] = {}
    for workspace_id, role in best.items():
        if s.get(Workspace, workspace_id) is None:
            continue  # deleted since the rule was written
        membership = s.get(Membership, (workspace_id, user_id))
        if membership is None:
            s.add(Membership(workspace_id=workspace_id, user_id=user_id, role=role))
        else:
            membership.role = role
        granted[workspace_id] = Role(role).name
    return granted


def _free_username(s: Session, claims: Mapping[str, Any], email: str, subject: str) -> str:
    preferred = claims.get("preferred_username")
    base = (preferred if isinstance(preferred, str) else "") or email.partition("@")[0] or subject
    name = _NOT_NAME.sub("-", base.lower()).strip("-._")[:56] or "user"
    if not name[0].isalnum():
        name = f"u{name}"[:56]
    candidate, n = name, 1
    while s.scalar(select(func.count()).where(User.username == candidate)):
        n += 1
        candidate = f"{name}-{n}"
    return candidate
