"""The SearchRuns filter and order-by grammar, parsed into plain clauses (no SQL here).

    filter  := clause (AND clause)*
    clause  := operand OP literal
    operand := metrics.KEY | params.KEY | tags.KEY | status | start_time | end_time | name
    OP      := = | != | < | <= | > | >= | LIKE
    literal := 'single-quoted string' ('' inside for a quote) | number

KEY is letters, digits and `_ - . /`, or anything in backquotes. Errors name the
character position (1-based) so a caller can point at the mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelfleet.agent.hub.errors import InvalidArgument

ENTITIES = ("metrics", "params", "tags")
ATTRIBUTES = ("status", "start_time", "end_time", "name")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "LIKE")
MAX_FILTER = 4096
MAX_CLAUSES = 20

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:`[^`]+`|[A-Za-z0-9_\-./]+))?)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Operand:
    """`kind` is one of ENTITIES (with `key`) or one of ATTRIBUTES (key empty)."""

    kind: str
    key: str = ""


@dataclass(frozen=True, slots=True)
class Clause:
    operand: Operand
    op: str
    value: str | float
    position: int


@dataclass(frozen=True, slots=True)
class OrderKey:
    operand: Operand
    descending: bool


def _error(field: str, position: int, expected: str, got: str) -> InvalidArgument:
    return InvalidArgument(field, f"{expected} at position {position}", got=got)


def operand(text: str, field: str, position: int) -> Operand:
    """`metrics.auc` / `params.lr` / `tags.team` / an attribute name."""
    kind, dot, key = text.partition(".")
    if dot:
        if kind not in ENTITIES:
            raise _error(field, position, "metrics.KEY, params.KEY or tags.KEY", repr(text))
        if key.startswith("`") and key.endswith("`"):
            key = key[1:-1]
        if not key:
            raise _error(field, position, "a key after the dot", repr(text))
        return Operand(kind, key)
    if text.lower() in ATTRIBUTES:
        return Operand(text.lower())
    expected = "metrics.KEY, params.KEY, tags.KEY or one of " + ", ".join(ATTRIBUTES)
    raise _error(field, position, expected, repr(text))


def _tokens(text: str, field: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(
                field, pos + 1, "a key, an operator or a value", repr(text[pos : pos + 10])
            )
        kind = match.lastgroup or ""
        if kind != "space":
            out.append((kind, match.group(), pos + 1))
        pos = match.end()
    return out


def parse_filter(text: str, field: str = "filter") -> list[Clause]:
    """The clauses of `text` (empty for an empty filter)."""
    if len(text) > MAX_FILTER:
        raise InvalidArgument(field, f"at most {MAX_FILTER} characters", got=str(len(text)))
    tokens = _tokens(text, field)
    clauses: list[Clause] = []
    i = 0
    while i < len(tokens):
        if clauses:
            kind, word, pos = tokens[i]
            if kind != "ident" or word.upper() != "AND":
                raise _error(field, pos, "AND between conditions", repr(word))
            i += 1
        if i + 3 > len(tokens):
            at = tokens[i][2] if i < len(tokens) else len(text) + 1
            raise _error(field, at, "a condition like metrics.auc > 0.9", "end of filter")
        (k1, left, p1), (k2, op, p2), (k3, literal, p3) = tokens[i : i + 3]
        if k1 != "ident":
            raise _error(field, p1, "a key such as metrics.auc", repr(left))
        target = operand(left, field, p1)
        if k2 == "ident" and op.upper() == "LIKE":
            op = "LIKE"
        elif k2 != "op":
            raise _error(field, p2, "an operator (" + " ".join(OPERATORS) + ")", repr(op))
        value: str | float
        if k3 == "string":
            value = literal[1:-1].replace("''", "'")
        elif k3 == "number":
            value = float(literal)
        else:
            raise _error(field, p3, "a quoted string or a number", repr(literal))
        clauses.append(Clause(target, op, value, p1))
        i += 3
    if len(clauses) > MAX_CLAUSES:
        raise InvalidArgument(field, f"at most {MAX_CLAUSES} conditions", got=str(len(clauses)))
    return clauses


def parse_order_by(items: list[str], field: str = "order_by") -> list[OrderKey]:
    """`["metrics.auc DESC", "start_time"]` -> order keys (ASC by default)."""
    if len(items) > 5:
        raise InvalidArgument(field, "at most 5 order keys", got=str(len(items)))
    keys: list[OrderKey] = []
    for index, item in enumerate(items):
        name = f"{field}[{index}]"
        words = item.split()
        if not words or len(words) > 2:
            raise InvalidArgument(name, "'KEY' or 'KEY ASC|DESC'", got=repr(item))
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise InvalidArgument(name, "ASC or DESC after the key", got=repr(words[1]))
        keys.append(OrderKey(operand(words[0], name, 1), direction == "DESC"))
    return keys
