"""Input checks shared by the servicers; each failure names the field and the expectation."""

from __future__ import annotations

import re

from modelfleet.agent.hub.access.permissions import Role
from modelfleet.agent.hub.errors import InvalidArgument

NAME_RULE = (
    "1-64 characters: lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
)
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def name(field: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise InvalidArgument(field, NAME_RULE, got=_show(value))
    return value


def text(field: str, value: str, max_len: int) -> str:
    if len(value) > max_len:
        raise InvalidArgument(field, f"at most {max_len} characters", got=f"{len(value)}")
    return value


def email(field: str, value: str) -> str:
    if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise InvalidArgument(field, "an e-mail address like name@example.com, or empty")
    return value


def password(field: str, value: str) -> str:
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise InvalidArgument(field, f"{MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return value


def role(field: str, value: int) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument(field, "VIEWER, DEVELOPER or ADMIN", got=str(value)) from None


def required(field: str, value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(field, what, got="empty")
    return value


def _show(value: str) -> str:
    if not value:
        return "empty"
    if len(value) > 64:
        return f"{len(value)} characters"
    return repr(value)
