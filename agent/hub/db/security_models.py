"""Sign-in security tables: SSO providers and identities, pending logins, MFA, allow-lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelfleet.agent.hub.db.models import Base, UtcDateTime, new_id, utcnow

_USERS = "users.id"


class SsoProviderRow(Base):
    """An OpenID Connect provider; the client secret is sealed (agent/hub/secrets.py)."""

    __tablename__ = "sso_providers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    preset: Mapped[str] = mapped_column(String(16), default="")
    tenant: Mapped[str] = mapped_column(String(128), default="")
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(256))
    client_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    scopes: Mapped[str] = mapped_column(String(512), default="openid email profile")
    # JSON lists: lowercase domains; {claim, value, workspace_id, role} mapping rules.
    allowed_domains_json: Mapped[str] = mapped_column(Text, default="[]")
    role_mappings_json: Mapped[str] = mapped_column(Text, default="[]")
    jit_user_creation: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SsoIdentity(Base):
    """A provider's subject linked to a hub user."""

    __tablename__ = "sso_identities"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    provider_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sso_providers.id", ondelete="CASCADE")
    )
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_USERS, ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_sso_identities_provider_subject", "provider_id", "subject", unique=True),
    )


class SsoLogin(Base):
    """A sign-in in flight: code flow (state, nonce, PKCE challenge) or device flow.

    Only a hash of the handle the client holds (state / device login id) is stored; the
    provider's device code is sealed.
    """

    __tablename__ = "sso_logins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sso_providers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    nonce: Mapped[str] = mapped_column(String(64), default="")
    redirect_uri: Mapped[str] = mapped_column(String(512), default="")
    code_challenge: Mapped[str] = mapped_column(String(128), default="")
    device_code_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    interval: Mapped[int] = mapped_column(Integer, default=5)
    last_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UserMfa(Base):
    """A user's TOTP secret (sealed); active once confirmed. `last_step` stops replays."""

    __tablename__ = "user_mfa"

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_USERS, ondelete="CASCADE"), primary_key=True
    )
    totp_seed_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RecoveryCode(Base):
    __tablename__ = "mfa_recovery_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_USERS, ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SessionFactors(Base):
    """How a sign-in session (refresh-token family) authenticated: `amr` and MFA or not."""

    __tablename__ = "session_factors"

    family_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey(_USERS, ondelete="CASCADE"), index=True
    )
    amr: Mapped[str] = mapped_column(String(256), default="")
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkspaceSecurity(Base):
    __tablename__ = "workspace_security"

    workspace_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    mfa_required: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AllowedNetworkRow(Base):
    """One CIDR of an allow-list: a workspace's (people / API keys) or the hub's (agents)."""

    __tablename__ = "allowed_networks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=True
    )
    audience: Mapped[str] = mapped_column(String(16))
    cidr: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_allowed_networks_scope", "workspace_id", "audience"),)
