"""Client errors as sentences a person can act on, and which of them mean "connection lost"."""

from __future__ import annotations

from modelfleet.client import (
    AlreadyExists,
    AuthenticationError,
    DeadlineExceeded,
    FailedPrecondition,
    HubTrustError,
    InvalidArgument,
    ModelfleetError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
)

TRUST_WARNING = (
    "SECURITY WARNING: the hub's certificate does not match the fingerprint pinned for this "
    "connection. Someone may be impersonating the hub, or it was reinstalled with a new CA. "
    "Nothing was sent. Ask your administrator for the hub's fingerprint before trusting it again."
)


def is_connection_problem(exc: ModelfleetError) -> bool:
    """The hub could not be reached or did not answer in time (worth retrying)."""
    return isinstance(exc, Unavailable | DeadlineExceeded)


def readable(exc: ModelfleetError, *, signing_in: bool = False) -> str:
    """One sentence for `exc`; `signing_in` words authentication failures as a bad password."""
    if isinstance(exc, HubTrustError):
        return f"{TRUST_WARNING} ({exc.message})"
    if isinstance(exc, RateLimited):
        wait = f"{exc.retry_after:g} s" if exc.retry_after is not None else "a while"
        what = "failed sign-ins" if signing_in else "requests"
        return f"Too many {what}: the hub asks to wait {wait} before trying again."
    if isinstance(exc, AuthenticationError):
        if signing_in:
            return "Wrong user name or password (or the account is disabled)."
        return f"Signed out: {exc.message}. Sign in again."
    if isinstance(exc, PermissionDenied):
        return f"Not allowed: {exc.message}."
    if isinstance(exc, Unavailable | DeadlineExceeded):
        return f"Cannot reach the hub: {exc.message}."
    if isinstance(exc, InvalidArgument):
        return f"Invalid input: {exc.message}."
    if isinstance(exc, AlreadyExists | NotFound | FailedPrecondition):
        return f"{exc.message[:1].upper()}{exc.message[1:]}."
    return str(exc)
