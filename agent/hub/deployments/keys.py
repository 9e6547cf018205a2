"""Inference keys of a deployment: issue (secret shown once), list, revoke.

Keys live in the deployment's spec, so a key change is a revision like any other and reaches
the agents with the desired state. Only the sha256 of a secret is stored; people see ids,
names and limits. Every other change carries the current revision's keys over (see the
servicer's `_change`): a rollback or a promotion never brings back a revoked key or copies
another environment's.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.deployments.spec import KeyRecord, Spec
from modelfleet.agent.hub.errors import InvalidArgument, NotFound
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.fleet.inference_keys import digest_of, new_secret
from modelfleet.proto.v1 import deployments_pb2

MAX_KEYS = 32
MAX_NAME = 64
MAX_RATE = 1_000_000.0
MAX_BURST = 1_000_000


def check_limits(rate_per_s: float, burst: int) -> None:
    if not math.isfinite(rate_per_s) or not 0 <= rate_per_s <= MAX_RATE:
        raise InvalidArgument(
            "rate_per_s", f"requests per second from 0 (no limit) to {MAX_RATE:g}"
        )
    if not 0 <= burst <= MAX_BURST:
        raise InvalidArgument("burst", f"0 (the rate rounded up) to {MAX_BURST}")


def issue(spec: Spec, name: str, rate_per_s: float, burst: int, actor: str) -> tuple[Spec, str]:
    """The spec with one more key, and that key's secret (to return once, never to store).
    The limits were checked (`check_limits`) before the change began."""
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise InvalidArgument("name", f"1-{MAX_NAME} printable characters naming the caller")
    if len(spec.inference_keys) >= MAX_KEYS:
        raise InvalidArgument("deployment", f"at most {MAX_KEYS} keys; revoke one first")
    key_id, secret = new_secret()
    record = KeyRecord(
        id=key_id,
        name=name,
        sha256=digest_of(secret.encode()).hex(),
        rate_per_s=float(rate_per_s),
        burst=int(burst),
        created_by=actor,
        created_at=datetime.now(UTC).isoformat(),
    )
    keys = (*spec.inference_keys, record)
    return dataclasses.replace(spec, inference_keys=keys), secret


def revoke(spec: Spec, key_id: str) -> tuple[Spec, KeyRecord]:
    validation.text("id", key_id, 64)
    found = next((k for k in spec.inference_keys if k.id == key_id), None)
    if found is None:
        raise NotFound(f"id: no inference key {key_id[:64]!r} on this deployment")
    keys = tuple(k for k in spec.inference_keys if k.id != key_id)
    return dataclasses.replace(spec, inference_keys=keys), found


def info(record: KeyRecord) -> deployments_pb2.InferenceKeyInfo:
    created = datetime.fromisoformat(record.created_at) if record.created_at else None
    return deployments_pb2.InferenceKeyInfo(
        id=record.id,
        name=record.name,
        rate_per_s=record.rate_per_s,
        burst=record.burst,
        created_by=record.created_by,
        created_at=timestamp(created),
    )
