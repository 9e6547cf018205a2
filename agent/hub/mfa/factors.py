"""Second factors at sign-in: TOTP with replay protection, recovery codes, session `amr`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.security_models import RecoveryCode, SessionFactors, UserMfa
from modelfleet.agent.hub.errors import HubError
from modelfleet.agent.hub.mfa import totp
from modelfleet.agent.hub.secrets import SecretBox

# Trailing metadata on a refused Login telling clients to ask for a code.
MFA_REQUIRED_METADATA = "x-modelfleet-mfa"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# RFC 8176 method names that count as a factor; two of them (or "mfa") make an MFA sign-in.
FACTORS = frozenset(
    {"pwd", "otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "sc",
     "pin", "kba", "pop", "user", "rba", "wia", "geo"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """The outcome of checking a code: the `amr` entry it earned, or why it failed."""

    amr: str = ""
    failure: str = ""


def seed_context(user_id: str) -> str:
    # Binds a sealed seed to its user: a seed copied to another row does not open.
    return f"user_mfa:{user_id}"


def is_mfa(amr: Sequence[str]) -> bool:
    methods = set(amr)
    return "mfa" in methods or len(methods & FACTORS) >= 2


def login_second_factor(
    s: Session, box: SecretBox | None, user_id: str, code: str
) -> SecondFactor | None:
    """None when the user has no TOTP; else the check of `code` (missing counts as wrong)."""
    row = active_totp(s, user_id)
    if row is None:
        return None
    if not code.strip():
        return SecondFactor(failure="this account has two-step sign-in; enter the current code")
    if box is None:
        raise HubError("the hub's secrets keyring is not loaded")
    return check_code(s, box, row, code)


def active_totp(s: Session, user_id: str) -> UserMfa | None:
    row = s.get(UserMfa, user_id)
    return row if row is not None and row.confirmed_at is not None else None


def check_code(s: Session, box: SecretBox, row: UserMfa, code: str) -> SecondFactor:
    """A TOTP code (each time step accepted once) or an unused recovery code (spent here)."""
    code = code.strip()
    if totp.looks_like_totp(code):
        seed = box.open(row.totp_seed_sealed, seed_context(row.user_id))
        step = totp.matching_step(seed, code)
        if step is None:
            return SecondFactor(failure="wrong or expired code")
        # Conditional update: two sign-ins racing with one code cannot both win.
        spent = s.execute(
            update(UserMfa)
            .where(UserMfa.user_id == row.user_id, UserMfa.last_step < step)
            .values(last_step=step)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            return SecondFactor(failure="code already used; wait for the next one")
        return SecondFactor(amr="otp")
    if use_recovery_code(s, row.user_id, code):
        return SecondFactor(amr="otp")
    return SecondFactor(failure="wrong code")


def new_recovery_codes(s: Session, user_id: str) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once, only hashes kept."""
    s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        s.add(RecoveryCode(user_id=user_id, code_hash=_hash_recovery(code)))
    s.flush()
    return codes


def use_recovery_code(s: Session, user_id: str, code: str) -> bool:
    digest = _hash_recovery(code)
    rows = s.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in rows:
        if hmac.compare_digest(row.code_hash, digest):
            spent = s.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=datetime.now(UTC))
            )
            return spent.rowcount == 1  # type: ignore[attr-defined,no-any-return]
    return False


def recovery_codes_left(s: Session, user_id: str) -> int:
    return len(
        s.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def record_session(s: Session, family_id: str, user_id: str, amr: Sequence[str]) -> None:
    """Remember how a new sign-in session authenticated (read by the MFA policy)."""
    methods = list(dict.fromkeys(a[:32] for a in amr))[:8]
    s.merge(
        SessionFactors(
            family_id=family_id, user_id=user_id, amr=" ".join(methods), mfa=is_mfa(methods)
        )
    )


def session_factors(s: Session, family_id: str) -> SessionFactors | None:
    return s.get(SessionFactors, family_id) if family_id else None


def _hash_recovery(code: str) -> str:
    # Codes carry ~50 random bits: a plain digest is enough (nothing to brute-force offline).
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()
