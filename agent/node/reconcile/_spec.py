"""Desired state as plain dataclasses, converted once from the hub's DesiredState message."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelfleet.agent.node.access import KeyEntry, KeysFileError, entry_from_json
from modelfleet.agent.node.errors import InvalidInput
from modelfleet.agent.node.models import check_model_name
from modelfleet.agent.node.repository import Batching
from modelfleet.proto.v1 import deployments_pb2, fleet_pb2

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Target:
    """One model version of a deployment and its share of traffic."""

    model_name: str
    model_version: int
    percent: int
    artifact_sha256: str
    artifact_size: int
    manifest_signature: str
    feature_names: tuple[str, ...]

    @property
    def version(self) -> str:
        """The serving version label (`/v2/models/<deployment>/versions/<version>`)."""
        return str(self.model_version)

    @property
    def problem(self) -> str:
        """Why this target must not be pulled at all ("" if it may): the digest names the
        cache file, so anything but a SHA-256 in hex could name a path outside the cache."""
        sha = self.artifact_sha256
        if _SHA256.fullmatch(sha):
            return ""
        shown = repr(sha) if len(sha) <= 80 else f"{len(sha)} characters"
        return f"artifact_sha256: expected 64 lowercase hex characters (got {shown})"


@dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    revision: int
    targets: tuple[Target, ...]
    sticky_key: str = ""
    batching: Batching | None = None
    #: reference profile JSON by "model:version", for drift on the agent
    reference_profiles: Mapping[str, str] = field(default_factory=dict)
    #: usable inference keys; `protected` when the hub listed any (even unusable ones)
    inference_keys: tuple[KeyEntry, ...] = ()
    protected: bool = False
    #: the `monitoring` block staged into each version's modelfleet.json (drift settings,
    #: prediction and score outputs); {} = the defaults
    monitoring: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesiredState:
    revision: int
    deployments: tuple[Deployment, ...]
    #: the hub's message as received, kept so an applied state can be saved as is
    raw: bytes = field(default=b"", compare=False, repr=False)

    @classmethod
    def empty(cls) -> DesiredState:
        return cls(0, ())


def _target(msg: deployments_pb2.TrafficTarget) -> Target:
    return Target(
        model_name=msg.model_name,
        model_version=msg.model_version,
        percent=msg.percent,
        artifact_sha256=msg.artifact_sha256.lower(),
        artifact_size=msg.artifact_size,
        manifest_signature=msg.manifest_signature,
        feature_names=tuple(msg.feature_names),
    )


def _deployment(msg: deployments_pb2.DeploymentSpec) -> Deployment:
    batching = None
    if msg.HasField("batching") and msg.batching.max_batch_size:
        batching = Batching(msg.batching.max_batch_size, msg.batching.max_queue_delay_us)
    return Deployment(
        name=msg.name,
        revision=msg.revision,
        targets=tuple(_target(t) for t in msg.targets),
        sticky_key=msg.sticky_key,
        batching=batching,
        reference_profiles=dict(msg.reference_profiles),
        inference_keys=_keys(msg),
        protected=len(msg.inference_keys) > 0,
        monitoring=_monitoring(msg),
    )


def _monitoring(msg: deployments_pb2.DeploymentSpec) -> dict[str, Any]:
    """The hub checked the settings; anything unreadable here means the defaults, loudly."""
    if not msg.monitoring_json:
        return {}
    try:
        settings = orjson.loads(msg.monitoring_json)
    except orjson.JSONDecodeError as exc:
        settings = None
        log.warning("[Reconcile] deployment %r monitoring settings: %s", msg.name, exc)
    if not isinstance(settings, dict):
        log.warning("[Reconcile] deployment %r: monitoring settings ignored", msg.name)
        return {}
    return settings


def _keys(msg: deployments_pb2.DeploymentSpec) -> tuple[KeyEntry, ...]:
    keys = []
    for i, key in enumerate(msg.inference_keys):
        raw = {
            "id": key.id,
            "sha256": key.sha256.lower(),
            "models": [msg.name],
            "rate_per_s": key.rate_per_s or None,
            "burst": key.burst or None,
        }
        try:
            keys.append(entry_from_json(f"deployment {msg.name!r} inference_keys[{i}]", raw))
        except KeysFileError as exc:  # fail closed: the deployment stays protected
            log.warning("[Reconcile] %s; that key is ignored", exc)
    return tuple(keys)


def desired_from_pb(msg: fleet_pb2.DesiredState) -> DesiredState:
    """The hub's desired state; a deployment whose name is no portable folder name (it
    names the serving folder) is left out with an error in the log."""
    deployments = []
    for spec in msg.deployments:
        try:
            check_model_name("deployment name", spec.name)
        except InvalidInput as exc:
            log.error("[Reconcile] revision %d: deployment left out: %s", msg.revision, exc)
            continue
        deployments.append(_deployment(spec))
    return DesiredState(msg.revision, tuple(deployments), msg.SerializeToString())


def desired_from_bytes(data: bytes) -> DesiredState:
    return desired_from_pb(fleet_pb2.DesiredState.FromString(data))
