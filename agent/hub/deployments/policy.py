"""The promotion policy hook: what must hold before a guarded environment's served versions change.

Every change there asks it: deploy, promote, traffic split, rollback and undeploy, each
named by `Promotion.kind`, so a release freeze cannot be walked around by moving traffic.
An approval workflow (several approvers, risk thresholds) plugs in here later; today the
hub allows every change that the caller's role permits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from modelfleet.agent.hub.deployments.spec import Spec
from modelfleet.agent.hub.errors import PermissionDenied

GUARDED_ENVIRONMENTS = frozenset({"production"})


@dataclass(frozen=True, slots=True)
class Promotion:
    """One change of a guarded environment's deployment, as the policy is asked about it."""

    workspace_id: str
    name: str
    #: the environment the spec comes from ("promote"); "" for changes made in place
    from_environment: str
    to_environment: str
    #: the spec the deployment would have (state "undeployed" for an undeploy)
    spec: Spec
    actor: str
    reason: str
    #: "deploy", "promote", "traffic", "rollback" or "undeploy"
    kind: str
    #: model versions the environment serves now (a share above 0%), before the change
    served: frozenset[int] = frozenset()

    @property
    def introduces(self) -> frozenset[int]:
        """Versions that would get traffic and get none now: what makes a change a promotion."""
        return served_versions(self.spec) - self.served


class PromotionPolicy(Protocol):
    def check(self, promotion: Promotion) -> None:
        """Return to allow; raise a HubError (PERMISSION_DENIED, FAILED_PRECONDITION) to refuse.

        Asked for every kind of change; a policy may let some through (a rollback to a
        version served before, a traffic change that `introduces` nothing) by its own rules.
        """


class AllowAll:
    """The default: a promotion the caller may make is allowed."""

    def check(self, promotion: Promotion) -> None:
        return None


@dataclass(frozen=True)
class DenyAll:
    """Refuses every change in a guarded environment with `reason` (tests; a release freeze)."""

    reason: str = "promotions to production are frozen"

    def check(self, promotion: Promotion) -> None:
        raise PermissionDenied(f"promotion policy: {self.reason}")


def applies(to_environment: str) -> bool:
    return to_environment in GUARDED_ENVIRONMENTS


def served_versions(spec: Spec | None) -> frozenset[int]:
    """The versions `spec` gives traffic to (none when undeployed or absent)."""
    if spec is None or not spec.active:
        return frozenset()
    return frozenset(t.model_version for t in spec.targets if t.percent)
