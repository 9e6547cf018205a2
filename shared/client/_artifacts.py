"""Artifact transfers: resumable uploads from a file and ranged downloads into one, both in
bounded chunks (memory stays flat whatever the size)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import grpc

from modelfleet.client._calls import Caller, Scope, backoff_delays
from modelfleet.client._errors import (
    DeadlineExceeded,
    InvalidArgument,
    ModelfleetError,
    ServerError,
    Unavailable,
    error_from_rpc,
)
from modelfleet.client._registry import ArtifactInfo, artifact_from_pb
from modelfleet.proto.v1 import artifacts_pb2, artifacts_pb2_grpc

log = logging.getLogger(__name__)

MiB = 1 << 20
CHUNK_BYTES = MiB
# The hub refuses bigger upload chunks.
MAX_CHUNK_BYTES = 2 * MiB
# Stream deadlines grow with the size: a transfer may take this long per MB, plus the timeout.
SECONDS_PER_MB = 1.0
# Give up after this many broken streams in a row that moved no byte forward.
MAX_STALLED_ATTEMPTS = 5

Progress = Callable[[int, int], None]
# A broken stream: the transfer resumes from where the hub (or the file) says it got to.
_RESUMABLE = (Unavailable, DeadlineExceeded, ServerError)


def file_sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _is_resumable(error: ModelfleetError, code: grpc.StatusCode | None) -> bool:
    # ABORTED: another stream held the upload; FAILED_PRECONDITION: offsets moved on.
    return isinstance(error, _RESUMABLE) or code in (
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.CANCELLED,
    )


def _stream_deadline(caller: Caller, size: int) -> float:
    return caller.timeout + size / 1e6 * SECONDS_PER_MB


class ArtifactCalls:
    """The artifact half of `HubClient` (mixed in; uses its `_caller`)."""

    _caller: Caller

    @property
    def _artifacts(self) -> artifacts_pb2_grpc.ArtifactsStub:
        return artifacts_pb2_grpc.ArtifactsStub(self._caller.channel)

    def stat_artifact(self, sha256: str, *, workspace: str | None = None) -> ArtifactInfo:
        msg = self._caller.unary(
            "Artifacts.StatArtifact", self._artifacts.StatArtifact,
            artifacts_pb2.StatArtifactRequest(sha256=sha256), idempotent=True,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip
        return artifact_from_pb(msg)

    def upload_artifact(
        self,
        path: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        chunk_size: int = CHUNK_BYTES,
        progress: Progress | None = None,
        workspace: str | None = None,
    ) -> ArtifactInfo:
        """Upload a file (skipped when the workspace already has its digest).

        A broken stream is resumed from the offset the hub committed; the hub verifies the
        digest at the end and keeps nothing when it differs (InvalidArgument on `sha256`).
        """
        if not 0 < chunk_size <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_size must be 1..{MAX_CHUNK_BYTES} bytes, got {chunk_size}")
        source = Path(path)
        size = source.stat().st_size
        digest = sha256 or file_sha256(source)
        request = artifacts_pb2.StartUploadRequest(sha256=digest, size=size)
        stalled, best = 0, -1
        delays = backoff_delays(MAX_STALLED_ATTEMPTS + 1)
        while True:
            status = self._caller.unary(
                "Artifacts.StartUpload", self._artifacts.StartUpload, request,
                idempotent=True, scope=Scope.REQUIRED, workspace=workspace,
            )  # fmt: skip
            if status.complete:
                if progress is not None:
                    progress(size, size)
                return artifact_from_pb(status.artifact)
            if status.committed_offset > best:
                stalled, best = 0, status.committed_offset
            try:
                status = self._send(source, status, size, chunk_size, progress, workspace)
            except grpc.RpcError as exc:
                error = error_from_rpc(exc, "Artifacts.Upload")
                delay = next(delays, None) if stalled < MAX_STALLED_ATTEMPTS else None
                if not _is_resumable(error, exc.code()) or delay is None:
                    raise error from exc
                stalled += 1
                log.info("upload of %s broke (%s); resuming", digest[:12], error)
                time.sleep(delay)
                continue
            if status.complete:
                return artifact_from_pb(status.artifact)

    def _send(
        self,
        source: Path,
        start: artifacts_pb2.UploadStatus,
        size: int,
        chunk_size: int,
        progress: Progress | None,
        workspace: str | None,
    ) -> artifacts_pb2.UploadStatus:
        metadata = self._caller._metadata(
            Scope.REQUIRED, workspace, authenticated=True, force_refresh=False
        )
        chunks = _chunks(
            source, start.upload_id, start.committed_offset, chunk_size, progress, size
        )
        return self._artifacts.Upload(
            chunks, timeout=_stream_deadline(self._caller, size), metadata=metadata
        )

    def download_artifact(
        self,
        sha256: str,
        path: str | os.PathLike[str],
        *,
        resume: bool = False,
        progress: Progress | None = None,
        workspace: str | None = None,
    ) -> ArtifactInfo:
        """Stream an artifact into `path` and verify its digest.

        With `resume`, bytes already in `path` are kept and the download continues after
        them; a broken stream continues from the last byte written either way.
        """
        info = self.stat_artifact(sha256, workspace=workspace)
        target = Path(path)
        hasher = hashlib.sha256()
        mode = "wb"
        if resume and target.exists():
            with open(target, "rb") as kept:
                hasher = hashlib.file_digest(kept, "sha256")
            mode = "ab"
        stalled = 0
        delays = backoff_delays(MAX_STALLED_ATTEMPTS + 1)
        with open(target, mode) as out:
            offset = out.tell()
            if offset > info.size:
                raise InvalidArgument(
                    f"path: {target.name} holds {offset} bytes, more than the artifact's "
                    f"{info.size}; download without resume",
                    field="path",
                )
            while offset < info.size:
                before = offset
                stream = _Stream(out, hasher, offset, info.size, progress)
                try:
                    self._receive(stream, sha256, workspace)
                except ModelfleetError as error:
                    delay = next(delays, None) if stalled < MAX_STALLED_ATTEMPTS else None
                    if not isinstance(error, _RESUMABLE) or delay is None:
                        raise
                    stalled = 0 if stream.offset > before else stalled + 1
                    time.sleep(delay)
                offset = stream.offset
        if hasher.hexdigest() != sha256:
            raise InvalidArgument(
                f"sha256: the downloaded file does not match {sha256}; delete it and retry",
                field="sha256",
            )
        return info

    def _receive(self, stream: _Stream, sha256: str, workspace: str | None) -> None:
        request = artifacts_pb2.DownloadRequest(sha256=sha256, offset=stream.offset)
        metadata = self._caller._metadata(
            Scope.REQUIRED, workspace, authenticated=True, force_refresh=False
        )
        deadline = _stream_deadline(self._caller, stream.size - stream.offset)
        try:
            for chunk in self._artifacts.Download(request, timeout=deadline, metadata=metadata):
                stream.take(chunk.offset, chunk.data)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "Artifacts.Download") from exc


class _Stream:
    """Where a download stands: the file, the running digest and the next expected offset."""

    def __init__(
        self,
        out: IO[bytes],
        hasher: hashlib._Hash,
        offset: int,
        size: int,
        progress: Progress | None,
    ) -> None:
        self.out = out
        self.hasher = hasher
        self.offset = offset
        self.size = size
        self.progress = progress

    def take(self, offset: int, data: bytes) -> None:
        if offset != self.offset:
            raise ServerError(f"download chunk at offset {offset}, expected {self.offset}")
        self.out.write(data)
        self.hasher.update(data)
        self.offset += len(data)
        if self.progress is not None:
            self.progress(self.offset, self.size)


def _chunks(
    source: Path,
    upload_id: str,
    offset: int,
    chunk_size: int,
    progress: Progress | None,
    size: int,
) -> Iterator[artifacts_pb2.UploadChunk]:
    with open(source, "rb") as handle:
        handle.seek(offset)
        first = True
        while True:
            data = handle.read(chunk_size)
            if not data and not first:
                return
            yield artifacts_pb2.UploadChunk(
                upload_id=upload_id if first else "", offset=offset, data=data
            )
            first = False
            offset += len(data)
            if progress is not None:
                progress(offset, size)
            if not data:
                return
