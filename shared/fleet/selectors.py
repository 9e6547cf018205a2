"""Label selectors (``k=v`` terms, all must match): parse, format and match."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelfleet.fleet.identity import check_label


def parse_label(term: str, *, what: str = "selector") -> tuple[str, str]:
    """``"k=v"`` -> ``("k", "v")``; ValueError naming the term when malformed."""
    key, sep, value = term.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise ValueError(f"{what} {term!r}: expected key=value")
    check_label(key, value)
    return key, value


def parse_labels(terms: Iterable[str], *, what: str = "selector") -> dict[str, str]:
    """Several ``k=v`` terms (each may hold comma-separated terms) into one mapping."""
    out: dict[str, str] = {}
    for chunk in terms:
        for term in chunk.split(","):
            if not term.strip():
                continue
            key, value = parse_label(term, what=what)
            if key in out and out[key] != value:
                raise ValueError(f"{what}: key {key!r} given twice with different values")
            out[key] = value
    return out


def format_labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """True when every selector term is among the labels (an empty selector matches all)."""
    return all(labels.get(k) == v for k, v in selector.items())
