"""Reconcile desired deployments into loaded, verified, routed model versions."""

from modelfleet.agent.node.reconcile._artifacts import ArtifactCache, ArtifactError, Source
from modelfleet.agent.node.reconcile._reconciler import Reconciler, VersionStatus
from modelfleet.agent.node.reconcile._spec import (
    Deployment,
    DesiredState,
    Target,
    desired_from_bytes,
    desired_from_pb,
)

__all__ = [
    "ArtifactCache",
    "ArtifactError",
    "Deployment",
    "DesiredState",
    "Reconciler",
    "Source",
    "Target",
    "VersionStatus",
    "desired_from_bytes",
    "desired_from_pb",
]
