"""Artifact uploads and downloads through a real hub: resume, verification, ranges, scoping."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine

from modelfleet.client import (
    HubClient,
    NotFound,
    PermissionDenied,
    Role,
)
from modelfleet.client._calls import Scope
from modelfleet.proto.v1 import artifacts_pb2, artifacts_pb2_grpc
from tests.conftest import RunningHub
from tests.registry.conftest import member, open_uploads, row_counts, stored_blobs

MiB = 1 << 20


class Raw:
    """The generated stub with the admin's credentials, to drive the protocol by hand."""

    def __init__(self, client: HubClient, workspace: str = "default") -> None:
        self.stub = artifacts_pb2_grpc.ArtifactsStub(client._caller.channel)
        self.md = client._caller._metadata(
            Scope.REQUIRED, workspace, authenticated=True, force_refresh=False
        )

    def start(self, sha256: str, size: int) -> artifacts_pb2.UploadStatus:
        return self.stub.StartUpload(
            artifacts_pb2.StartUploadRequest(sha256=sha256, size=size), metadata=self.md, timeout=30
        )

    def upload(self, chunks: Iterator[artifacts_pb2.UploadChunk]) -> artifacts_pb2.UploadStatus:
        return self.stub.Upload(chunks, metadata=self.md, timeout=60)

    def download(self, sha256: str, offset: int = 0, length: int = 0) -> bytes:
        request = artifacts_pb2.DownloadRequest(sha256=sha256, offset=offset, length=length)
        return b"".join(c.data for c in self.stub.Download(request, metadata=self.md, timeout=60))


def chunks(
    upload_id: str, data: bytes, start: int, size: int = MiB
) -> Iterator[artifacts_pb2.UploadChunk]:
    for offset in range(start, len(data), size):
        yield artifacts_pb2.UploadChunk(
            upload_id=upload_id, offset=offset, data=data[offset : offset + size]
        )


def code_of(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_upload_interrupted_mid_stream_resumes_and_downloads_ranges(
    running_hub: RunningHub, admin: HubClient, tmp_path: Path
) -> None:
    data = os.urandom(9 * MiB + 12345)
    sha256 = hashlib.sha256(data).hexdigest()
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    raw = Raw(admin)
    status = raw.start(sha256, len(data))
    assert (status.committed_offset, status.complete) == (0, False)

    # A stream that ends after three chunks: the hub answers with what it committed.
    first = raw.upload(c for i, c in enumerate(chunks(status.upload_id, data, 0)) if i < 3)
    assert (first.committed_offset, first.complete) == (3 * MiB, False)

    # A stream broken by the client mid-way (an exception in its request iterator).
    def broken() -> Iterator[artifacts_pb2.UploadChunk]:
        for i, chunk in enumerate(chunks(status.upload_id, data, 3 * MiB)):
            if i == 3:
                raise ConnectionError("network gone")
            yield chunk

    assert code_of(lambda: raw.upload(broken())).code() == grpc.StatusCode.UNKNOWN  # cancelled
    again = raw.start(sha256, len(data))
    assert again.upload_id == status.upload_id
    assert 3 * MiB <= again.committed_offset <= 6 * MiB and not again.complete
    # Nothing is visible before the last byte arrived and the digest was checked.
    with pytest.raises(NotFound):
        admin.stat_artifact(sha256)

    # A chunk that does not continue at the committed offset is refused, saying where to go.
    wrong = artifacts_pb2.UploadChunk(
        upload_id=status.upload_id, offset=again.committed_offset + 1, data=b"x"
    )
    error = code_of(lambda: raw.upload(iter([wrong])))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"resume from offset {again.committed_offset}" in error.details()

    sent: list[int] = []
    info = admin.upload_artifact(source, progress=lambda done, total: sent.append(done))
    assert (info.sha256, info.size) == (sha256, len(data))
    assert sent[0] > again.committed_offset  # resumed, not started over
    assert raw.start(sha256, len(data)).complete  # a second upload is skipped
    assert admin.stat_artifact(sha256).size == len(data)
    assert open_uploads(running_hub) == []

    target = tmp_path / "copy.bin"
    admin.download_artifact(sha256, target)
    assert target.read_bytes() == data
    assert raw.download(sha256, offset=5 * MiB + 7, length=1000) == data[5 * MiB + 7 :][:1000]
    assert raw.download(sha256, offset=len(data)) == b""
    target.write_bytes(data[:4321])
    admin.download_artifact(sha256, target, resume=True)
    assert target.read_bytes() == data
    error = code_of(lambda: raw.download(sha256, offset=len(data) + 1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("offset:")


def test_corrupted_chunk_or_wrong_digest_stores_nothing(
    running_hub: RunningHub, admin: HubClient, db: Engine
) -> None:
    data = os.urandom(3 * MiB + 17)
    sha256 = hashlib.sha256(data).hexdigest()
    raw = Raw(admin)
    before = row_counts(db)
    status = raw.start(sha256, len(data))
    corrupted = list(chunks(status.upload_id, data, 0))
    flipped = bytearray(corrupted[1].data)
    flipped[100] ^= 0x01
    corrupted[1].data = bytes(flipped)
    error = code_of(lambda: raw.upload(iter(corrupted)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("sha256: expected the declared digest")
    assert "discarded" in error.details()
    with pytest.raises(NotFound):
        admin.stat_artifact(sha256)
    with pytest.raises(NotFound, match="artifact_sha256"):
        admin.create_version("never", sha256, create_model=True)
    assert row_counts(db) == before
    assert stored_blobs(running_hub) == [] and open_uploads(running_hub) == []
    # The session went with its bytes: a new attempt starts from zero.
    assert raw.start(sha256, len(data)).committed_offset == 0

    # A declared digest that is not the content's: refused the same way.
    other = hashlib.sha256(b"something else").hexdigest()
    status = raw.start(other, len(data))
    error = code_of(lambda: raw.upload(chunks(status.upload_id, data, 0)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("sha256:")
    assert stored_blobs(running_hub) == []

    # More bytes than declared, oversized chunks, malformed digests and sizes.
    small = raw.start(hashlib.sha256(b"abc").hexdigest(), 3)
    error = code_of(lambda: raw.upload(chunks(small.upload_id, b"abcd", 0)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("data:")
    fresh = raw.start(hashlib.sha256(bytes(4 * MiB)).hexdigest(), 4 * MiB)
    big = artifacts_pb2.UploadChunk(upload_id=fresh.upload_id, offset=0, data=bytes(3 * MiB))
    error = code_of(lambda: raw.upload(iter([big])))
    assert (error.code(), error.details()[:5]) == (grpc.StatusCode.INVALID_ARGUMENT, "data:")
    error = code_of(lambda: raw.start("ABC", 1))
    assert (error.code(), error.details()[:7]) == (grpc.StatusCode.INVALID_ARGUMENT, "sha256:")
    error = code_of(lambda: raw.upload(iter([])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("upload_id:")
    error = code_of(lambda: raw.upload(iter([artifacts_pb2.UploadChunk(upload_id="f" * 32)])))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert stored_blobs(running_hub) == []


def test_artifacts_are_scoped_by_workspace_and_stored_once(
    running_hub: RunningHub, admin: HubClient, tmp_path: Path
) -> None:
    admin.create_workspace("other")
    data = os.urandom(MiB + 3)
    sha256 = hashlib.sha256(data).hexdigest()
    source = tmp_path / "a.bin"
    source.write_bytes(data)
    admin.upload_artifact(source)
    raw_other = Raw(admin, "other")
    with pytest.raises(NotFound):
        admin.stat_artifact(sha256, workspace="other")
    error = code_of(lambda: raw_other.download(sha256))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(NotFound):
        admin.download_artifact(sha256, tmp_path / "x", workspace="other")
    # An upload session of one workspace cannot be written from another.
    pending = Raw(admin).start(hashlib.sha256(b"pending").hexdigest(), 7)
    chunk = artifacts_pb2.UploadChunk(upload_id=pending.upload_id, offset=0, data=b"pending")
    assert code_of(lambda: raw_other.upload(iter([chunk]))).code() == grpc.StatusCode.NOT_FOUND

    # Holding the bytes makes the artifact visible in the second workspace too; stored once.
    assert raw_other.start(sha256, len(data)).committed_offset == 0
    admin.upload_artifact(source, workspace="other")
    assert admin.stat_artifact(sha256, workspace="other").size == len(data)
    assert [p.name for p in stored_blobs(running_hub)] == [sha256]

    viewer = member(running_hub, admin, "viewer1", Role.VIEWER)
    with viewer:
        assert viewer.stat_artifact(sha256).size == len(data)
        viewer.download_artifact(sha256, tmp_path / "v.bin")
        with pytest.raises(PermissionDenied):
            viewer.upload_artifact(tmp_path / "v.bin")
    # The size is part of the declaration: a stored digest with another size is refused.
    error = code_of(lambda: Raw(admin).start(sha256, len(data) + 1))
    assert (error.code(), error.details()[:5]) == (grpc.StatusCode.INVALID_ARGUMENT, "size:")
