"""Agent identities as certificate SAN URIs (``urn:modelfleet:...``), both ways."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

AGENT = "urn:modelfleet:agent:"
WORKSPACE = "urn:modelfleet:workspace:"
ENVIRONMENT = "urn:modelfleet:environment:"
LABEL = "urn:modelfleet:label:"

# Label keys and values: what a selector can name and a URI can carry without escaping.
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
ENVIRONMENT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


class IdentityError(ValueError):
    """A certificate's SAN URIs do not describe one complete agent identity."""


def check_label(key: str, value: str) -> None:
    """Raise ValueError naming the label when the key or value is not allowed."""
    if not LABEL_KEY.match(key):
        raise ValueError(
            f"label key {key!r}: expected 1-64 characters of letters, digits, '.', '_', '/', '-',"
            " starting and ending with a letter or digit"
        )
    if not LABEL_VALUE.match(value):
        raise ValueError(
            f"label {key}={value!r}: value must be at most 63 characters of letters, digits,"
            " '.', '_', '-', starting and ending with a letter or digit"
        )


def check_environment(name: str) -> None:
    if not ENVIRONMENT_NAME.match(name):
        raise ValueError(
            f"environment {name!r}: expected 1-32 lowercase letters, digits or '-'"
            " (e.g. 'staging', 'production')"
        )


@dataclass(frozen=True)
class AgentIdentity:
    """Who an agent is, as its certificate says."""

    agent_id: str
    workspace_id: str
    environment: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def san_uris(self) -> list[str]:
        uris = [
            AGENT + self.agent_id,
            WORKSPACE + self.workspace_id,
            ENVIRONMENT + self.environment,
        ]
        uris += [f"{LABEL}{k}={v}" for k, v in sorted(self.labels.items())]
        return uris

    @classmethod
    def from_san_uris(cls, uris: Iterable[str]) -> AgentIdentity:
        """Parse SAN URIs; unrelated URIs are ignored, duplicates of the singletons refused."""
        single: dict[str, str] = {}
        labels: dict[str, str] = {}
        for uri in uris:
            if uri.startswith(LABEL):
                key, sep, value = uri[len(LABEL) :].partition("=")
                if not sep:
                    raise IdentityError(f"SAN URI {uri!r}: label must be key=value")
                labels[key] = value
                continue
            for prefix in (AGENT, WORKSPACE, ENVIRONMENT):
                if uri.startswith(prefix):
                    if prefix in single:
                        raise IdentityError(f"certificate names more than one {prefix}")
                    single[prefix] = uri[len(prefix) :]
        for prefix in (AGENT, WORKSPACE, ENVIRONMENT):
            if not single.get(prefix):
                raise IdentityError(f"certificate has no {prefix}<value> SAN URI")
        return cls(single[AGENT], single[WORKSPACE], single[ENVIRONMENT], labels)
