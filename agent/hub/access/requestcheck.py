"""The check every request passes before a servicer sees it: no NUL in any string field.

PostgreSQL text columns cannot hold NUL, and no name, key or label of the hub has a use for
it, so one walk here keeps such strings away from every query and every audit row. Bytes
fields are never read (upload chunks stay untouched); a per-type plan lists only the
fields that are strings or can contain strings, so a small request costs microseconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import Enum, auto
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from modelfleet.agent.hub.errors import InvalidArgument

_NUL = "\x00"
EXPECTED = "text without NUL characters"


class _Kind(Enum):
    STRING = auto()
    STRINGS = auto()
    MESSAGE = auto()
    MESSAGES = auto()
    MAP = auto()


# (field name, kind, map key is a string, plan-bearing value: None, "string" or a Descriptor)
_Step = tuple[str, _Kind, bool, Descriptor | str | None]
_plans: dict[Descriptor, tuple[_Step, ...]] = {}
_reaches: dict[Descriptor, bool] = {}


def check_request(message: Message) -> None:
    """Raise InvalidArgument naming the first string field (path) that holds a NUL."""
    found = _find(message)
    if found is not None:
        raise InvalidArgument(found[0], found[1])


async def checked_stream(messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The messages of a client stream, each checked before the servicer reads it."""
    async for message in messages:
        check_request(message)
        yield message


def _find(message: Message) -> tuple[str, str] | None:
    # The upb descriptor behind generated messages has the pure-Python interface.
    for name, kind, string_key, value_type in _plan(cast(Descriptor, message.DESCRIPTOR)):
        if kind is _Kind.STRING:
            if _NUL in getattr(message, name):
                return name, EXPECTED
        elif kind is _Kind.STRINGS:
            for index, item in enumerate(getattr(message, name)):
                if _NUL in item:
                    return f"{name}[{index}]", EXPECTED
        elif kind is _Kind.MESSAGE:
            if message.HasField(name):
                found = _find(getattr(message, name))
                if found is not None:
                    return f"{name}.{found[0]}", found[1]
        elif kind is _Kind.MESSAGES:
            for index, item in enumerate(getattr(message, name)):
                found = _find(item)
                if found is not None:
                    return f"{name}[{index}].{found[0]}", found[1]
        else:
            found = _find_in_map(name, getattr(message, name), string_key, value_type)
            if found is not None:
                return found
    return None


def _find_in_map(
    name: str, entries: Any, string_key: bool, value_type: Descriptor | str | None
) -> tuple[str, str] | None:
    for key, value in entries.items():
        if string_key and _NUL in key:
            # The key itself is the bad part: do not echo it.
            return name, "keys without NUL characters"
        shown = f"{name}[{key!r}]" if len(str(key)) <= 64 else f"{name}[...]"
        if value_type == "string":
            if _NUL in value:
                return shown, EXPECTED
        elif value_type is not None:
            found = _find(value)
            if found is not None:
                return f"{shown}.{found[0]}", found[1]
    return None


def _plan(descriptor: Descriptor) -> tuple[_Step, ...]:
    plan = _plans.get(descriptor)
    if plan is None:
        plan = _plans[descriptor] = tuple(
            step for field in descriptor.fields if (step := _step(field)) is not None
        )
    return plan


def _step(field: FieldDescriptor) -> _Step | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        return field.name, _Kind.STRINGS if field.is_repeated else _Kind.STRING, False, None
    sub = field.message_type
    if sub is None:
        return None
    if sub.GetOptions().map_entry:
        key, value = sub.fields_by_name["key"], sub.fields_by_name["value"]
        string_key = key.type == FieldDescriptor.TYPE_STRING
        value_type: Descriptor | str | None = None
        if value.type == FieldDescriptor.TYPE_STRING:
            value_type = "string"
        elif value.message_type is not None and _reaches_string(value.message_type):
            value_type = value.message_type
        if not string_key and value_type is None:
            return None
        return field.name, _Kind.MAP, string_key, value_type
    if not _reaches_string(sub):
        return None
    return field.name, _Kind.MESSAGES if field.is_repeated else _Kind.MESSAGE, False, sub


def _reaches_string(descriptor: Descriptor, seen: frozenset[Descriptor] = frozenset()) -> bool:
    """Whether a message of this type can hold a string anywhere (recursive types included)."""
    known = _reaches.get(descriptor)
    if known is not None:
        return known
    seen = seen | {descriptor}
    result = any(
        field.type == FieldDescriptor.TYPE_STRING
        or (
            field.message_type is not None
            and field.message_type not in seen
            and _reaches_string(field.message_type, seen)
        )
        for field in descriptor.fields
    )
    if not seen - {descriptor}:
        # Only a top-level answer is final: inside a cycle a type may look string-free.
        _reaches[descriptor] = result
    return result
