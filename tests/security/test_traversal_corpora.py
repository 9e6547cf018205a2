"""Every path-taking input against the traversal corpus (traversal.py): refused with an error
naming the field, or kept inside its folder -- never a file outside it, never a crash.

Inputs covered: archive member names (safe_extract, tar and zip), ONNX external-data
locations (inspect_model), model names and versions of the agent's model repository
(ModelManager.load/resolve, behind AgentControl.LoadModel and the REST routes), artifact
digests and deployment names in the hub's desired state (the agent's cache and serving
folders), run artifact paths (Tracking.LogArtifact) and registered model names (the
default destination of `modelfleet models download` is NAME-VERSION.onnx), all on SQLite
and PostgreSQL where the hub is involved.
"""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import zipfile
from pathlib import Path

import grpc
import onnx
import pytest

from modelfleet.agent.node.errors import InvalidInput, NotFound, ServingError
from modelfleet.agent.node.metrics import MetricsRegistry
from modelfleet.agent.node.models import ModelManager, State
from modelfleet.agent.node.reconcile import desired_from_pb
from modelfleet.agent.node.repository import Batching
from modelfleet.agent.node.workers import ModelWorkers
from modelfleet.onnxinfo import ModelRefused, UnsafeArchive, inspect_model, safe_extract
from modelfleet.proto.v1 import deployments_pb2, fleet_pb2, registry_pb2, registry_pb2_grpc
from modelfleet.proto.v1 import tracking_pb2 as pb
from tests.modelzoo import identity_model
from tests.security.onnxgraphs import external
from tests.security.traversal import TRAVERSAL, climbs

# tracking's fixture (hub on SQLite and PostgreSQL) is shared with the tracking tests.
from tests.tracking.conftest import (
    Tracking,
    new_run,
    tracking,  # noqa: F401
)


def _files(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), root) for d, _, fs in os.walk(root) for n in fs}


# -- archive members ---------------------------------------------------------------------


def _tar(name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size = 5
        archive.addfile(info, io.BytesIO(b"owned"))
    return buffer.getvalue()


def _zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"owned")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_member_names(kind: str, tmp_path: Path) -> None:
    sandbox = tmp_path / "a" / "b"
    sandbox.mkdir(parents=True)
    for index, name in enumerate(TRAVERSAL):
        archive = sandbox / f"in-{index}"
        try:
            archive.write_bytes(_tar(name) if kind == "tar" else _zip(name))
        except (ValueError, UnicodeError):
            continue  # the archive library cannot even write this name
        dest = sandbox / f"out-{index}"
        before = _files(tmp_path)
        try:
            extracted = safe_extract(archive, dest)
        except UnsafeArchive as exc:
            assert exc.field in (f"member {name!r}", "archive") or "member" in exc.field
            assert not dest.exists()
            extracted = []
        new = _files(tmp_path) - before
        outside = {p for p in new if not p.startswith(f"a/b/out-{index}/")}
        assert not outside, (name, outside)
        if climbs(_read_back(archive, kind)):
            assert not extracted, f"{name!r} was extracted as {extracted}"


def _read_back(archive: Path, kind: str) -> str:
    """The member name as the archive library reads it (both cut names at NUL)."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as zipped:
            return zipped.namelist()[0]
    with tarfile.open(archive) as tarred:
        return tarred.getnames()[0]


# -- ONNX external data ------------------------------------------------------------------


def test_external_data_locations(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "model"
    folder.mkdir(parents=True)
    # Every target a traversal could reach exists, so only the confinement can refuse it.
    for place in (tmp_path / "escape", tmp_path / "a" / "escape", folder / "escape"):
        place.write_bytes(b"\0" * 16)
    for name in TRAVERSAL:
        for base in (folder, None):
            try:
                signature = inspect_model(external(name).SerializeToString(), folder=base)
            except ModelRefused as exc:
                assert "external_data" in exc.field, (name, exc.field)
                continue
            assert base is not None and not climbs(name) and "\x00" not in name, name
            for location in signature.external_data:
                assert (folder / location).resolve().is_relative_to(folder.resolve()), name


# -- the agent's model repository --------------------------------------------------------


def test_model_names_and_versions_stay_in_the_repository(tmp_path: Path) -> None:
    models, outside = tmp_path / "r" / "models", tmp_path / "r"
    for folder in (models / "echo" / "1", outside / "escape" / "1", tmp_path / "escape" / "1"):
        folder.mkdir(parents=True)
        onnx.save(identity_model("FP32"), folder / "model.onnx")

    async def probe() -> list[str]:
        pool = ModelWorkers(1)
        manager = ModelManager(models, pool, 1, Batching(max_batch_size=0), MetricsRegistry())
        loaded = []
        try:
            for name in TRAVERSAL:
                # Every corpus name is refused as a model name, before any file is looked at.
                for version in ("1", ""):
                    with pytest.raises(InvalidInput, match=r"^model name: expected"):
                        await manager.load(name, version, None, None)
                try:
                    mv = await manager.load("echo", name, None, None)
                except (InvalidInput, NotFound):
                    pass
                else:
                    if mv.state == State.READY:
                        loaded.append(f"echo@{name!r}")
                # Unknown, or known only as a failed load: either way nothing is served.
                with pytest.raises(ServingError):
                    manager.resolve(name, None)
        finally:
            pool.shutdown()
        return loaded

    assert asyncio.run(probe()) == []


def test_digests_and_deployment_names_from_the_hub_never_name_a_path() -> None:
    """The desired state names the cache file by digest and the serving folder by deployment
    name: no corpus value passes as either (the reconcile tests show the refusal is reported
    and touches no file)."""
    for name in TRAVERSAL:
        spec = deployments_pb2.DeploymentSpec(
            name="fraud", targets=[deployments_pb2.TrafficTarget(artifact_sha256=name)]
        )
        named = deployments_pb2.DeploymentSpec(name=name)
        desired = desired_from_pb(fleet_pb2.DesiredState(deployments=[spec, named]))
        assert [d.name for d in desired.deployments] == ["fraud"], name
        (target,) = desired.deployments[0].targets
        assert target.problem.startswith("artifact_sha256: expected 64 lowercase hex"), name


# -- hub: run artifact paths and registered model names -----------------------------------


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


def test_run_artifact_paths_that_climb_are_refused(tracking: Tracking) -> None:  # noqa: F811
    run = new_run(tracking)
    for name in TRAVERSAL:
        request = pb.LogArtifactRequest(run_id=run, path=name, sha256="a" * 64)
        code, details = _code(lambda r=request: tracking.stub.LogArtifact(r, metadata=tracking.dev))
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert "path" in details, (name, details)
            continue
        # The path passed validation; the (never uploaded) artifact is what is missing.
        assert code == grpc.StatusCode.NOT_FOUND and "sha256" in details, (name, code, details)
        assert not climbs(name) and len(name) <= 1024, name
        assert not any(c in name for c in ("\\", ":", "\x00")), name


def test_model_names_that_climb_cannot_be_registered(tracking: Tracking) -> None:  # noqa: F811
    registry = registry_pb2_grpc.RegistryStub(tracking.hub.channel)
    for name in TRAVERSAL:
        request = registry_pb2.CreateModelRequest(name=name)
        code, details = _code(lambda r=request: registry.CreateModel(r, metadata=tracking.dev))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "name" in details, (name, code)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("C:/escape", "which has a ':'"),
        ("C:escape", "which has a ':'"),
        ("plots/roc.png:stream", "which has a ':'"),
        ("..\\escape", "which has a backslash"),
        ("plots\\roc.png", "which has a backslash"),
        # Refused for every RPC before the servicer runs (access/requestcheck.py).
        ("a\x00/../escape", "path: expected text without NUL characters"),
        ("plots/\x1b[2Jroc.png", "control character"),
        ("a/" + "x" * 256, "which has a segment over 255 bytes"),
        ("/etc/passwd", "which is absolute"),
    ],
)
def test_run_artifact_paths_must_be_portable(
    tracking: Tracking,  # noqa: F811
    path: str,
    why: str,
) -> None:
    run = new_run(tracking)
    request = pb.LogArtifactRequest(run_id=run, path=path, sha256="a" * 64)
    code, details = _code(lambda: tracking.stub.LogArtifact(request, metadata=tracking.dev))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (path, code, details)
    assert details.startswith("path: expected") and why in details, details
