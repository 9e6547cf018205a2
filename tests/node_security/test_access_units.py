"""InferenceAccess, token buckets and hub-sent deployment keys, in process (pure logic)."""

from __future__ import annotations

import hashlib

import pytest

from modelfleet.agent.node.access import InferenceAccess, KeyEntry, TokenBucket
from modelfleet.agent.node.errors import PermissionDenied, RateLimited, Unauthenticated
from modelfleet.agent.node.reconcile._spec import desired_from_pb
from modelfleet.proto.v1 import deployments_pb2, fleet_pb2

SECRET = b"mfk_k1_s3cret-value"


def entry(models: set[str], rate: float | None = None, burst: int | None = None) -> KeyEntry:
    return KeyEntry("k1", hashlib.sha256(SECRET).digest(), frozenset(models), rate, burst)


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    start = bucket.stamp
    assert [bucket.take(start) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(start) == pytest.approx(0.5)
    assert bucket.take(start + 0.5) == 0.0
    assert bucket.take(start + 0.5) == pytest.approx(0.5)
    assert bucket.take(start + 100) == 0.0  # capped at the burst, not 200 tokens
    assert bucket.tokens == pytest.approx(2.0)


def test_open_until_keys_arrive_and_after_they_go() -> None:
    access = InferenceAccess()
    assert not access.active
    access.check("fraud", None)
    access.set_deployment_keys("fraud", [entry({"ignored"})])
    assert access.active and access.protects("fraud") and not access.protects("other")
    with pytest.raises(Unauthenticated):
        access.check("fraud", None)
    access.check("fraud", b"Bearer " + SECRET)
    access.check("fraud", b"bearer " + SECRET)
    access.check("other", None)  # deployments without keys stay open
    access.set_deployment_keys("fraud", [])
    assert not access.active


def test_scope_and_rate() -> None:
    access = InferenceAccess([entry({"a"}, rate=1.0, burst=1)])
    access.check("a", b"Bearer " + SECRET)
    with pytest.raises(RateLimited) as info:
        access.check("a", b"Bearer " + SECRET)
    assert 0 < info.value.retry_after_s <= 1.0
    with pytest.raises(PermissionDenied):
        access.check("b", b"Bearer " + SECRET)
    with pytest.raises(Unauthenticated):
        access.check("a", b"Bearer " + SECRET + b"x")
    with pytest.raises(Unauthenticated):
        access.check("a", b"Bearer mfk_other_" + SECRET)


def test_hub_keys_convert_and_fail_closed() -> None:
    good = deployments_pb2.InferenceKey(
        id="k1", sha256=hashlib.sha256(SECRET).hexdigest().upper(), rate_per_s=5, burst=0
    )
    broken = deployments_pb2.InferenceKey(id="k2", sha256="not-hex")
    state = fleet_pb2.DesiredState(
        revision=3,
        deployments=[
            deployments_pb2.DeploymentSpec(name="fraud", inference_keys=[good, broken]),
            deployments_pb2.DeploymentSpec(name="only-broken", inference_keys=[broken]),
            deployments_pb2.DeploymentSpec(name="open"),
        ],
    )
    fraud, only_broken, open_ = desired_from_pb(state).deployments
    assert [k.id for k in fraud.inference_keys] == ["k1"] and fraud.protected
    assert fraud.inference_keys[0].rate_per_s == 5.0 and fraud.inference_keys[0].burst is None
    assert only_broken.protected and not only_broken.inference_keys
    assert not open_.protected
    access = InferenceAccess()
    for d in (fraud, only_broken, open_):
        access.set_deployment_keys(d.name, d.inference_keys, d.protected)
    access.check("fraud", b"Bearer " + SECRET)
    # Listed keys, none usable: nobody gets in (fraud's key is refused by scope).
    with pytest.raises(Unauthenticated):
        access.check("only-broken", None)
    with pytest.raises(PermissionDenied):
        access.check("only-broken", b"Bearer " + SECRET)
    access.check("open", None)
