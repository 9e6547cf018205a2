"""The promotion policy hook: what must hold before a deployment reaches a guarded environment.

An approval workflow (several approvers, risk thresholds) plugs in here later; today the
hub allows every promotion that the caller's role permits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from modelfleet.agent.hub.deployments.spec import Spec
from modelfleet.agent.hub.errors import PermissionDenied

GUARDED_ENVIRONMENTS = frozenset({"production"})


@dataclass(frozen=True, slots=True)
class Promotion:
    workspace_id: str
    name: str
    from_environment: str
    to_environment: str
    spec: Spec
    actor: str
    reason: str


class PromotionPolicy(Protocol):
    def check(self, promotion: Promotion) -> None:
        """Return to allow; raise a HubError (PERMISSION_DENIED, FAILED_PRECONDITION) to refuse."""


class AllowAll:
    """The default: a promotion the caller may make is allowed."""

    def check(self, promotion: Promotion) -> None:
        return None


@dataclass(frozen=True)
class DenyAll:
    """Refuses every guarded promotion with `reason` (tests; a frozen release window)."""

    reason: str = "promotions to production are frozen"

    def check(self, promotion: Promotion) -> None:
        raise PermissionDenied(f"promotion policy: {self.reason}")


def applies(to_environment: str) -> bool:
    return to_environment in GUARDED_ENVIRONMENTS
