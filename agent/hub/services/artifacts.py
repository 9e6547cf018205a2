"""Artifacts servicer: resumable, digest-verified uploads and ranged downloads per workspace.

The bytes of a digest are stored once; a workspace sees an artifact only after uploading it
itself (knowing a digest is not proof of holding the content), so the same upload in a
second workspace re-sends the bytes and finishes by linking to the stored blob.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.blobs import BlobStore, UploadNotFound
from modelfleet.agent.hub.db import ArtifactUpload, WorkspaceArtifact
from modelfleet.agent.hub.errors import Context, FailedPrecondition, InvalidArgument, NotFound
from modelfleet.agent.hub.registry.artifacts import (
    MAX_CHUNK_BYTES,
    blob_errors,
    digest,
    require_visible,
    visible,
)
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import artifacts_pb2, artifacts_pb2_grpc

log = logging.getLogger(__name__)


def blob_store(hub: HubState) -> BlobStore:
    if hub.blobs is None:
        raise FailedPrecondition("this hub has no artifact store configured")
    return hub.blobs


def artifact_info(row: WorkspaceArtifact) -> artifacts_pb2.ArtifactInfo:
    return artifacts_pb2.ArtifactInfo(
        sha256=row.sha256, size=row.size, created_at=convert.timestamp(row.created_at)
    )


class ArtifactsServicer(artifacts_pb2_grpc.ArtifactsServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub

    async def StartUpload(
        self, request: artifacts_pb2.StartUploadRequest, context: Context
    ) -> artifacts_pb2.UploadStatus:
        call = current_call()
        sha256 = digest("sha256", request.sha256)
        call.target = f"artifact:{sha256}"
        store = blob_store(self._hub)
        ws = call.ws.id
        stored = await self._hub.db.read(lambda s: visible(s, ws, sha256))
        if stored is not None:
            if stored.size != request.size:
                raise InvalidArgument(
                    "size", f"{stored.size}, the size of the stored artifact", str(request.size)
                )
            return artifacts_pb2.UploadStatus(
                committed_offset=stored.size, complete=True, artifact=artifact_info(stored)
            )
        open_upload = await self._hub.db.read(lambda s: _open_upload(s, ws, sha256))
        if open_upload is not None:
            if open_upload.size == request.size:
                try:
                    with blob_errors():
                        offset = await asyncio.to_thread(store.committed_offset, open_upload.id)
                    return artifacts_pb2.UploadStatus(
                        upload_id=open_upload.id, committed_offset=offset
                    )
                except NotFound:
                    pass  # the store lost the session (purged): start over below
            # A new declaration of the size replaces the earlier one (one of them is wrong).
            await self._discard(store, open_upload.id)
        with blob_errors():
            upload_id = await asyncio.to_thread(store.begin, sha256, request.size)

        def remember(s: Session) -> None:
            s.add(
                ArtifactUpload(
                    id=upload_id,
                    workspace_id=ws,
                    sha256=sha256,
                    size=request.size,
                    created_by=call.user.username,
                )
            )
            record(s, call, details={"upload_id": upload_id, "size": request.size})

        try:
            await self._hub.db.write(remember)
        except IntegrityError:
            # A concurrent StartUpload of the same digest won: continue its upload.
            await asyncio.to_thread(store.abort, upload_id)
            winner = await self._hub.db.read(lambda s: _open_upload(s, ws, sha256))
            if winner is None or winner.size != request.size:
                raise FailedPrecondition(
                    "sha256: another upload of this digest started at the same time; retry"
                ) from None
            with blob_errors():
                offset = await asyncio.to_thread(store.committed_offset, winner.id)
            return artifacts_pb2.UploadStatus(upload_id=winner.id, committed_offset=offset)
        return artifacts_pb2.UploadStatus(upload_id=upload_id, committed_offset=0)

    async def Upload(
        self, request_iterator: AsyncIterator[artifacts_pb2.UploadChunk], context: Context
    ) -> artifacts_pb2.UploadStatus:
        call = current_call()
        store = blob_store(self._hub)
        upload: ArtifactUpload | None = None
        offset = 0
        async for chunk in request_iterator:
            if upload is None:
                upload = await self._upload_of(call, chunk.upload_id)
                call.target = f"artifact:{upload.sha256}"
                offset = chunk.offset
            if len(chunk.data) > MAX_CHUNK_BYTES:
                raise InvalidArgument(
                    "data", f"at most {MAX_CHUNK_BYTES} bytes per chunk", str(len(chunk.data))
                )
            if chunk.offset != offset:
                raise FailedPrecondition(
                    f"offset: expected {offset} (the previous chunk's end), got {chunk.offset}"
                )
            if chunk.data:
                with blob_errors():
                    offset = await asyncio.to_thread(
                        store.write, upload.id, chunk.offset, chunk.data
                    )
        if upload is None:
            raise InvalidArgument("upload_id", "at least one chunk naming the upload", "none")
        if offset < upload.size:
            with blob_errors():
                committed = await asyncio.to_thread(store.committed_offset, upload.id)
            return artifacts_pb2.UploadStatus(upload_id=upload.id, committed_offset=committed)
        return await self._finish(call, store, upload)

    async def _finish(
        self, call: Call, store: BlobStore, upload: ArtifactUpload
    ) -> artifacts_pb2.UploadStatus:
        try:
            with blob_errors():
                await asyncio.to_thread(store.finish, upload.id)
        except InvalidArgument:
            # The store discarded the bytes; the session row goes with them.
            await self._hub.db.write(lambda s: _forget_upload(s, upload.id))
            log.info("[Artifacts.Upload] refused artifact=%s: verification failed", upload.sha256)
            raise

        def publish(s: Session) -> WorkspaceArtifact:
            _forget_upload(s, upload.id)
            row = visible(s, upload.workspace_id, upload.sha256)
            if row is None:
                row = WorkspaceArtifact(
                    workspace_id=upload.workspace_id,
                    sha256=upload.sha256,
                    size=upload.size,
                    created_by=call.user.username,
                )
                s.add(row)
                s.flush()
            record(s, call, details={"size": upload.size})
            return row

        row = await self._hub.db.write(publish)
        log.info("[Artifacts.Upload] stored artifact=%s size=%d", row.sha256, row.size)
        return artifacts_pb2.UploadStatus(
            upload_id=upload.id,
            committed_offset=row.size,
            complete=True,
            artifact=artifact_info(row),
        )

    async def Download(
        self, request: artifacts_pb2.DownloadRequest, context: Context
    ) -> AsyncIterator[artifacts_pb2.DownloadChunk]:
        call = current_call()
        sha256 = digest("sha256", request.sha256)
        call.target = f"artifact:{sha256}"
        store = blob_store(self._hub)
        row = await self._hub.db.read(lambda s: require_visible(s, call.ws.id, sha256))
        if request.offset > row.size:
            raise InvalidArgument(
                "offset", f"at most the artifact size {row.size}", str(request.offset)
            )
        length = request.length or None
        with blob_errors():
            pieces = await asyncio.to_thread(store.read, sha256, request.offset, length)
        offset = request.offset
        try:
            while True:
                with blob_errors():
                    piece = await asyncio.to_thread(next, pieces, None)
                if piece is None:
                    return
                yield artifacts_pb2.DownloadChunk(offset=offset, data=piece)
                offset += len(piece)
        finally:
            # A cancelled call may leave the generator running in its worker thread.
            close = getattr(pieces, "close", None)
            if close is not None:
                with contextlib.suppress(ValueError):
                    close()

    async def StatArtifact(
        self, request: artifacts_pb2.StatArtifactRequest, context: Context
    ) -> artifacts_pb2.ArtifactInfo:
        call = current_call()
        sha256 = digest("sha256", request.sha256)
        row = await self._hub.db.read(lambda s: require_visible(s, call.ws.id, sha256))
        return artifact_info(row)

    async def _upload_of(self, call: Call, upload_id: str) -> ArtifactUpload:
        row = await self._hub.db.read(lambda s: s.get(ArtifactUpload, upload_id))
        if row is None or row.workspace_id != call.ws.id:
            raise NotFound(f"upload_id: no open upload {upload_id[:64]!r} in this workspace")
        return row

    async def _discard(self, store: BlobStore, upload_id: str) -> None:
        with contextlib.suppress(UploadNotFound):
            await asyncio.to_thread(store.abort, upload_id)
        await self._hub.db.write(lambda s: _forget_upload(s, upload_id))


def _open_upload(s: Session, workspace_id: str, sha256: str) -> ArtifactUpload | None:
    return s.scalars(
        select(ArtifactUpload).where(
            ArtifactUpload.workspace_id == workspace_id, ArtifactUpload.sha256 == sha256
        )
    ).first()


def _forget_upload(s: Session, upload_id: str) -> None:
    row = s.get(ArtifactUpload, upload_id)
    if row is not None:
        s.delete(row)
