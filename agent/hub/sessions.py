"""Sign-in sessions: access tokens and rotating refresh-token families."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.accounts import roles_of
from modelfleet.agent.hub.db import RefreshToken, User, new_id
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.tokens import AccessClaims, TokenSigner

_REFRESH_SCHEME = "mfr_"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User
    family_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refresh token that does not buy new tokens, and what was done about it."""

    reason: str
    user_id: str = ""
    family_revoked: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, signer: TokenSigner, settings: HubSettings) -> None:
        self._signer = signer
        self._settings = settings

    def issue(self, session: Session, user: User, family_id: str | None = None) -> IssuedTokens:
        """New tokens for `user`; a new family unless `family_id` continues one."""
        family = family_id or new_id()
        now = time.time()
        refresh = _REFRESH_SCHEME + secrets.token_urlsafe(32)
        refresh_expires = datetime.fromtimestamp(now, UTC) + timedelta(
            seconds=self._settings.refresh_token_ttl
        )
        session.add(
            RefreshToken(
                user_id=user.id,
                family_id=family,
                token_hash=_digest(refresh),
                expires_at=refresh_expires,
            )
        )
        claims = AccessClaims(
            subject=user.id,
            kind="user",
            name=user.username,
            system_admin=user.system_admin,
            workspaces={ws: int(role) for ws, role in roles_of(session, user.id).items()},
            session_id=family,
            issued_at=round(now, 3),
            expires_at=round(now + self._settings.access_token_ttl, 3),
            token_id=new_id(),
        )
        return IssuedTokens(
            access_token=self._signer.sign(claims),
            access_expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
            refresh_token=refresh,
            refresh_expires_at=refresh_expires,
            user=user,
            family_id=family,
        )

    def rotate(self, session: Session, refresh_token: str) -> IssuedTokens | Rejected:
        """Spend a refresh token; spending one twice revokes its whole family."""
        row = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token))
        )
        if row is None:
            return Rejected("refresh token not recognised")
        now = datetime.now(UTC)
        if row.revoked_at is not None:
            return Rejected("refresh token revoked; sign in again", row.user_id)
        if row.used_at is not None:
            revoke_family(session, row.family_id)
            return Rejected("refresh token reused; session revoked", row.user_id, True)
        if row.expires_at <= now:
            return Rejected("refresh token expired; sign in again", row.user_id)
        user = session.get(User, row.user_id)
        if user is None or user.disabled:
            return Rejected("account disabled; sign in again", row.user_id)
        # Conditional update: of two concurrent rotations of one token only one wins.
        spent = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            revoke_family(session, row.family_id)
            return Rejected("refresh token reused; session revoked", row.user_id, True)
        return self.issue(session, user, row.family_id)

    @staticmethod
    def find_family(session: Session, refresh_token: str) -> tuple[str, str] | None:
        """(user id, family id) of a refresh token, spent or not."""
        row = session.execute(
            select(RefreshToken.user_id, RefreshToken.family_id).where(
                RefreshToken.token_hash == _digest(refresh_token)
            )
        ).first()
        return None if row is None else (row[0], row[1])


def revoke_family(session: Session, family_id: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def revoke_user_sessions(session: Session, user_id: str, *, keep_family: str = "") -> None:
    session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.family_id != keep_family,
        )
        .values(revoked_at=datetime.now(UTC))
    )
