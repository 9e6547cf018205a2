"""Reconcile against a local artifact source (the hub path is covered end to end in
test_fleet_e2e.py): verified loads, traffic switches, failures that never get traffic,
instant rollback inside the grace period, and serving again from the cache alone."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelfleet.agent.node.errors import NotFound
from modelfleet.agent.node.metrics import MetricsRegistry
from modelfleet.agent.node.models import ModelManager
from modelfleet.agent.node.reconcile import (
    ArtifactCache,
    Deployment,
    DesiredState,
    Reconciler,
    Target,
    desired_from_pb,
)
from modelfleet.agent.node.repository import Batching
from modelfleet.agent.node.sample import write_sample_model
from modelfleet.agent.node.state import AUDIT, Outbox, StateStore
from modelfleet.agent.node.workers import ModelWorkers
from modelfleet.onnxinfo import Manifest, ManifestEntry, sign_manifest
from modelfleet.proto.v1 import deployments_pb2, fleet_pb2

KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, bytes]:
    root = tmp_path_factory.mktemp("models")
    return {
        v: (write_sample_model(root, "m", v, seed=v) / "model.onnx").read_bytes() for v in (1, 2)
    }


def target(data: bytes, version: int, percent: int, *, key: Ed25519PrivateKey = KEY) -> Target:
    sha = hashlib.sha256(data).hexdigest()
    manifest = Manifest((ManifestEntry("model.onnx", sha, len(data)),))
    signature = base64.b64encode(sign_manifest(manifest, key)).decode()
    return Target("credit", version, percent, sha, len(data), signature, ())


def desired(revision: int, *targets: Target) -> DesiredState:
    return DesiredState(revision, (Deployment("fraud", revision, targets),))


class Harness:
    def __init__(self, root: Path, blobs: dict[str, bytes]) -> None:
        self.pool = ModelWorkers(2)
        self.manager = ModelManager(None, self.pool, 2, Batching(0), MetricsRegistry())
        self.store = StateStore(root / "state.db")
        self.reconciler = Reconciler(
            self.manager,
            ArtifactCache(root / "artifacts"),
            root / "serving",
            Outbox(self.store),
            KEY.public_key(),
            grace_s=0.5,
        )
        self.blobs = blobs
        self.pulled: list[tuple[str, int]] = []
        self.reconciler.source = self.source

    async def source(self, sha: str, offset: int) -> AsyncIterator[bytes]:
        self.pulled.append((sha, offset))
        data = self.blobs[sha]
        for start in range(offset, len(data), 64 << 10):
            yield data[start : start + (64 << 10)]

    def audits(self) -> list[bytes]:
        return [e.body for e in self.store.pending(limit=1000) if e.kind == AUDIT]

    def status(self, version: int) -> tuple[str, str, int]:
        found = [s for s in self.reconciler.statuses() if s.model_version == version]
        return (found[0].state, found[0].reason, found[0].traffic_percent) if found else ("", "", 0)


def harness(tmp_path: Path, *payloads: bytes) -> Harness:
    return Harness(tmp_path, {hashlib.sha256(p).hexdigest(): p for p in payloads})


def test_deploy_canary_rollback_and_undeploy(tmp_path: Path, models: dict[int, bytes]) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, models[1], models[2])
        t1, t2 = target(models[1], 1, 100), target(models[2], 2, 10)
        await h.reconciler.apply(desired(1, t1))
        assert h.manager.resolve("fraud", None).version == "1"
        assert h.status(1) == ("ready", "", 100)

        await h.reconciler.apply(desired(2, target(models[1], 1, 90), t2))
        split = h.manager.split_of("fraud")
        assert split is not None and split.versions == ("1", "2")
        assert h.status(2) == ("ready", "", 10)

        # Full switch to v2: v1 leaves the split but stays loaded through the grace period,
        # so going back is a reference swap, with no pull and no load.
        await h.reconciler.apply(desired(3, target(models[2], 2, 100)))
        assert h.manager.resolve("fraud", None).version == "2"
        assert h.manager.resolve("fraud", "1").version == "1"
        pulls = len(h.pulled)
        await h.reconciler.apply(desired(4, t1))
        assert h.manager.resolve("fraud", None).version == "1"
        assert len(h.pulled) == pulls
        await asyncio.sleep(0.8)
        with pytest.raises(NotFound):
            h.manager.resolve("fraud", "2")

        await h.reconciler.apply(DesiredState(5, ()))
        with pytest.raises(NotFound):
            h.manager.resolve("fraud", None)
        actions = b"".join(h.audits())
        for action in (b"Deployment.Loaded", b"Deployment.TrafficSwitched", b"Deployment.Removed"):
            assert action in actions

    asyncio.run(scenario())


def test_corrupt_artifact_is_never_served(tmp_path: Path, models: dict[int, bytes]) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, models[1])
        await h.reconciler.apply(desired(1, target(models[1], 1, 100)))
        # The hub promises v2's digest but serves other bytes.
        bad = target(models[2], 2, 100)
        h.blobs[bad.artifact_sha256] = models[1]
        await h.reconciler.apply(desired(2, bad))
        state, reason, traffic = h.status(2)
        assert (state, traffic) == ("failed", 0) and "digest mismatch" in reason
        assert h.manager.resolve("fraud", None).version == "1"
        with pytest.raises(NotFound):
            h.manager.resolve("fraud", "2")
        assert not (tmp_path / "artifacts" / bad.artifact_sha256).exists()
        assert b"Deployment.LoadFailed" in b"".join(h.audits())

    asyncio.run(scenario())


def test_signature_by_another_key_is_refused(tmp_path: Path, models: dict[int, bytes]) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, models[1])
        forged = target(models[1], 1, 100, key=Ed25519PrivateKey.generate())
        await h.reconciler.apply(desired(1, forged))
        state, reason, _ = h.status(1)
        assert state == "failed" and "signature" in reason
        with pytest.raises(NotFound):
            h.manager.resolve("fraud", None)

    asyncio.run(scenario())


def test_restart_serves_from_cache_without_the_hub_and_resumes_pulls(
    tmp_path: Path, models: dict[int, bytes]
) -> None:
    async def scenario() -> None:
        first = harness(tmp_path, models[1], models[2])
        await first.reconciler.apply(desired(1, target(models[1], 1, 100)))
        # A pull interrupted half-way (the agent was killed) leaves a partial file.
        t2 = target(models[2], 2, 100)
        partial = tmp_path / "artifacts" / f"{t2.artifact_sha256}.partial"
        partial.write_bytes(models[2][: len(models[2]) // 2])

        again = harness(tmp_path)
        again.reconciler.source = None  # the hub is away
        await again.reconciler.apply(desired(1, target(models[1], 1, 100)))
        assert again.manager.resolve("fraud", None).version == "1"
        await again.reconciler.apply(desired(2, t2))
        state, reason, _ = again.status(2)
        assert state == "failed" and "hub is away" in reason
        assert again.manager.resolve("fraud", None).version == "1"

        again.blobs = first.blobs
        again.reconciler.source = again.source
        await again.reconciler.apply(desired(2, t2))
        assert again.manager.resolve("fraud", None).version == "2"
        assert again.pulled == [(t2.artifact_sha256, len(models[2]) // 2)]

    asyncio.run(scenario())


def _spec_pb(name: str, revision: int, *targets: Target) -> fleet_pb2.DesiredState:
    """The hub's message for one deployment, as the agent receives it."""
    return fleet_pb2.DesiredState(
        revision=revision,
        deployments=[
            deployments_pb2.DeploymentSpec(
                name=name,
                revision=revision,
                targets=[
                    deployments_pb2.TrafficTarget(
                        model_name=t.model_name,
                        model_version=t.model_version,
                        percent=t.percent,
                        artifact_sha256=t.artifact_sha256,
                        artifact_size=t.artifact_size,
                        manifest_signature=t.manifest_signature,
                    )
                    for t in targets
                ],
            )
        ],
    )


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "digest", ["../escape", "../../escape", "/tmp/escape", "a" * 63, "g" * 64, "A" * 64 + "/x", ""]
)
def test_digest_that_is_not_sha256_hex_is_refused_before_any_file_access(
    tmp_path: Path, models: dict[int, bytes], digest: str
) -> None:
    async def scenario() -> None:
        root = tmp_path / "agent"
        root.mkdir()
        h = harness(root, models[1])
        await h.reconciler.apply(desired_from_pb(_spec_pb("fraud", 1, target(models[1], 1, 100))))
        before = _files(tmp_path)
        pulls = list(h.pulled)
        bad = dataclasses.replace(target(models[1], 2, 100), artifact_sha256=digest)
        await h.reconciler.apply(desired_from_pb(_spec_pb("fraud", 2, bad)))
        state, reason, traffic = h.status(2)
        assert (state, traffic) == ("failed", 0), (state, reason)
        assert reason.startswith("artifact_sha256: expected 64 lowercase hex characters"), reason
        assert h.pulled == pulls  # nothing was asked of the hub
        # Not a file created, moved or removed anywhere (the state database aside).
        assert {p for p in _files(tmp_path) ^ before if p.parent != root} == set()
        assert h.manager.resolve("fraud", None).version == "1"
        assert b"Deployment.LoadFailed" in b"".join(h.audits())

    asyncio.run(scenario())


def test_deployment_whose_name_is_no_folder_name_is_left_out(models: dict[int, bytes]) -> None:
    good = _spec_pb("fraud", 3, target(models[1], 1, 100))
    for name in ("..", "../escape", "a/b", "a\\b", "C:x", "x" * 256, ""):
        message = _spec_pb(name, 3, target(models[1], 1, 100))
        message.deployments.extend(good.deployments)
        state = desired_from_pb(message)
        assert [d.name for d in state.deployments] == ["fraud"], name
