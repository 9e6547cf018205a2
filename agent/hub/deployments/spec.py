"""What one deployment revision says, as a JSON-able value shared by the store and the fleet."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from modelfleet.proto.v1 import deployments_pb2

MAX_TARGETS = 4


@dataclass(frozen=True, slots=True)
class Target:
    """One model version with its share of traffic and what an agent needs to fetch it."""

    model_name: str
    model_version: int
    percent: int
    artifact_sha256: str
    artifact_size: int
    manifest_signature: str
    feature_names: tuple[str, ...] = ()

    def to_pb(self) -> deployments_pb2.TrafficTarget:
        return deployments_pb2.TrafficTarget(
            model_name=self.model_name,
            model_version=self.model_version,
            percent=self.percent,
            artifact_sha256=self.artifact_sha256,
            artifact_size=self.artifact_size,
            manifest_signature=self.manifest_signature,
            feature_names=list(self.feature_names),
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An inference key of the deployment: only the sha256 of its secret is kept."""

    id: str
    name: str
    sha256: str
    rate_per_s: float = 0.0
    burst: int = 0
    created_by: str = ""
    created_at: str = ""  # ISO 8601, UTC

    def to_pb(self) -> deployments_pb2.InferenceKey:
        """As an agent receives it (hash and limits; no name or author)."""
        return deployments_pb2.InferenceKey(
            id=self.id, sha256=self.sha256, rate_per_s=self.rate_per_s, burst=self.burst
        )


@dataclass(frozen=True, slots=True)
class Spec:
    """A deployment revision's content (state, selector, targets and serving settings)."""

    targets: tuple[Target, ...]
    selector: dict[str, str] = field(default_factory=dict)
    sticky_key: str = ""
    # BatchingSettings / LimitSettings fields by name; zero means the agent's default.
    batching: dict[str, int] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    state: str = "active"
    # How the version was chosen ("alias:champion" or ""), for the timeline.
    source: str = ""
    # Set only by the key RPCs; every other change keeps the current revision's keys.
    inference_keys: tuple[KeyRecord, ...] = ()
    # Drift and prediction/score settings for the agents (see deployments.monitoring); set
    # by SetMonitoring or a Deploy that names them, kept by every other change.
    monitoring: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> Spec:
        raw = orjson.loads(text)
        targets = tuple(
            Target(**{**t, "feature_names": tuple(t.get("feature_names", ()))})
            for t in raw.pop("targets")
        )
        keys = tuple(KeyRecord(**k) for k in raw.pop("inference_keys", ()))
        return cls(targets=targets, inference_keys=keys, **raw)

    @property
    def active(self) -> bool:
        return self.state == "active"

    def batching_pb(self) -> deployments_pb2.BatchingSettings:
        return deployments_pb2.BatchingSettings(**self.batching)

    def limits_pb(self) -> deployments_pb2.LimitSettings:
        return deployments_pb2.LimitSettings(**self.limits)


def settings_of(
    message: deployments_pb2.BatchingSettings | deployments_pb2.LimitSettings,
) -> dict[str, int]:
    """The fields a request set (non-zero), by name."""
    return {f.name: int(v) for f, v in message.ListFields()}
