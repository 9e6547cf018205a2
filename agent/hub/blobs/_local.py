"""LocalBlobStore: the BlobStore on a local filesystem, encrypted at rest with the hub keyring."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from modelfleet.agent.hub.blobs._errors import (
    BlobCorrupted,
    BlobError,
    BlobNotFound,
    InvalidBlobArgument,
    OffsetMismatch,
    UploadNotFound,
    UploadVerificationFailed,
)
from modelfleet.agent.hub.blobs._format import BlobHeader, open_block, read_header
from modelfleet.agent.hub.blobs._keyring import KeySource
from modelfleet.agent.hub.blobs._store import BlobStats, BlobStore, check_digest
from modelfleet.agent.hub.blobs._upload import UploadFiles, fsync_dir

MiB = 1 << 20
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class LocalBlobStore(BlobStore):
    """Blobs under `root/blobs/<2 hex>/<sha256>`, upload sessions under `root/uploads/<id>/`.

    `block_size` is the plaintext size of each encrypted block of new blobs (readers take it
    from the blob header); `chunk_size` bounds read chunks and the write buffer; data is
    fsynced every `commit_interval` received bytes and whenever `committed_offset` is asked.
    Memory per active upload or read is about one block, whatever the blob size.
    Safe for concurrent use by threads; an upload is owned by one instance at a time.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        keyring: KeySource,
        *,
        block_size: int = MiB,
        chunk_size: int = MiB,
        commit_interval: int = 64 * MiB,
    ) -> None:
        for name, value in (("block_size", block_size), ("chunk_size", chunk_size)):
            if value <= 0:
                raise InvalidBlobArgument(
                    f"{name} {value}", field=name, expected="a positive number of bytes"
                )
        self.root = Path(root)
        self.keyring = keyring
        self.block_size = block_size
        self.chunk_size = chunk_size
        self.commit_interval = commit_interval
        self._blobs = self.root / "blobs"
        self._uploads = self.root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._guard = threading.Lock()
        self._id_locks: dict[str, threading.Lock] = {}
        self._open: dict[str, UploadFiles] = {}

    # -- uploads -----------------------------------------------------------------------------

    def begin(self, declared_sha256: str, declared_size: int) -> str:
        check_digest(declared_sha256, "declared_sha256")
        if not isinstance(declared_size, int) or declared_size < 0:
            raise InvalidBlobArgument(
                f"declared_size {declared_size!r}",
                field="declared_size",
                expected="a non-negative integer number of bytes",
            )
        upload_id = secrets.token_hex(16)
        folder = self._uploads / upload_id
        folder.mkdir(mode=0o700)
        header = BlobHeader(
            key_id=self.keyring.current_id,
            block_size=self.block_size,
            sha256=declared_sha256,
            size=declared_size,
        )
        files = UploadFiles(folder, self.keyring, self.chunk_size)
        try:
            files.create(header)
        except BaseException:
            files.discard()
            raise
        with self._guard:
            self._open[upload_id] = files
        return upload_id

    def committed_offset(self, upload_id: str) -> int:
        with self._session(upload_id) as files:
            if files.committed != files.offset:
                files.commit()
            return files.committed

    def write(self, upload_id: str, offset: int, data: bytes | memoryview) -> int:
        with self._session(upload_id) as files:
            if offset != files.offset:
                raise OffsetMismatch(upload_id, files.offset, offset)
            end = offset + len(data)
            if end > files.header.size:
                raise InvalidBlobArgument(
                    f"upload {upload_id}: data would end at byte {end}, "
                    f"past the declared size {files.header.size}",
                    field="data",
                    expected=f"no more than the declared size {files.header.size}",
                )
            files.append(data)
            if files.offset - files.committed >= self.commit_interval:
                files.commit()
            return files.offset

    def finish(self, upload_id: str) -> BlobStats:
        with self._session(upload_id, ending=True) as files:
            header = files.header
            if files.offset != header.size:
                files.discard()
                raise UploadVerificationFailed(
                    f"upload {upload_id}: received {files.offset} bytes, declared {header.size}; "
                    "the upload was discarded",
                    field="size",
                    expected=f"exactly the declared size {header.size}",
                )
            digest = files.seal()
            if digest != header.sha256:
                files.discard()
                raise UploadVerificationFailed(
                    f"upload {upload_id}: content sha256 is {digest}, declared {header.sha256}; "
                    "the upload was discarded",
                    field="sha256",
                    expected=f"the declared digest {header.sha256}",
                )
            target = self._blob_path(digest)
            target.parent.mkdir(exist_ok=True, mode=0o700)
            try:
                # link, not rename: it fails instead of replacing when another upload of the
                # same digest won the race, which is how concurrent finishes deduplicate.
                os.link(files.data_path, target)
                fsync_dir(target.parent)
            except FileExistsError:
                pass
            files.discard()
            return self.stat(digest)

    def abort(self, upload_id: str) -> None:
        with self._session(upload_id, ending=True) as files:
            files.discard()

    def purge_uploads(self, older_than: timedelta) -> int:
        """Discard sessions not committed to for `older_than`; returns how many were removed."""
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for folder in self._uploads.iterdir():
            state = folder / "state"
            try:
                stale = state.stat().st_mtime < cutoff
            except FileNotFoundError:
                stale = folder.stat().st_mtime < cutoff
            if stale:
                try:
                    self.abort(folder.name)
                    removed += 1
                except UploadNotFound:
                    pass
        return removed

    def close(self) -> None:
        """Release every session this instance holds (their uncommitted bytes are dropped)."""
        with self._guard:
            sessions, self._open = list(self._open.values()), {}
        for files in sessions:
            files.close()

    # -- reads -------------------------------------------------------------------------------

    def read(self, sha256: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        check_digest(sha256)
        handle = self._open_blob(sha256)
        try:
            header = read_header(handle, sha256)
            self._check_stored(header, sha256, os.fstat(handle.fileno()).st_size)
        except BaseException:
            handle.close()
            raise
        if not isinstance(offset, int) or not 0 <= offset <= header.size:
            handle.close()
            raise InvalidBlobArgument(
                f"read offset {offset!r} for blob {sha256} of {header.size} bytes",
                field="offset",
                expected=f"an integer between 0 and {header.size}",
            )
        if length is not None and (not isinstance(length, int) or length < 0):
            handle.close()
            raise InvalidBlobArgument(
                f"read length {length!r}", field="length", expected="a non-negative integer"
            )
        end = header.size if length is None else min(header.size, offset + length)
        return self._stream(handle, header, sha256, offset, end)

    def _stream(
        self, handle: BinaryIO, header: BlobHeader, name: str, offset: int, end: int
    ) -> Iterator[bytes]:
        with handle:
            # Doubles the kernel's read-ahead: blobs are read front to back.
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            cipher = self.keyring.cipher(header.key_id)
            binding = header.binding
            index = offset // header.block_size
            handle.seek(header.record_offset(index))
            while offset < end:
                record = handle.read(header.record_size)
                block = open_block(cipher, binding, index, record, name)
                start = offset - index * header.block_size
                stop = min(len(block), end - index * header.block_size)
                for pos in range(start, stop, self.chunk_size):
                    piece = min(stop, pos + self.chunk_size)
                    yield block if (pos, piece) == (0, len(block)) else block[pos:piece]
                offset += stop - start
                index += 1

    def stat(self, sha256: str) -> BlobStats:
        check_digest(sha256)
        with self._open_blob(sha256) as handle:
            header = read_header(handle, sha256)
            info = os.fstat(handle.fileno())
        self._check_stored(header, sha256, info.st_size)
        return BlobStats(
            sha256=sha256,
            size=header.size,
            key_id=header.key_id,
            created=datetime.fromtimestamp(info.st_mtime, UTC),
        )

    def exists(self, sha256: str) -> bool:
        return self._blob_path(check_digest(sha256)).is_file()

    def delete(self, sha256: str) -> None:
        path = self._blob_path(check_digest(sha256))
        try:
            path.unlink()
        except FileNotFoundError:
            raise BlobNotFound(
                f"blob {sha256} is not stored", field="sha256", expected="a stored digest"
            ) from None
        fsync_dir(path.parent)

    # -- internals ---------------------------------------------------------------------------

    def _blob_path(self, sha256: str) -> Path:
        return self._blobs / sha256[:2] / sha256

    def _open_blob(self, sha256: str) -> BinaryIO:
        try:
            return open(self._blob_path(sha256), "rb")
        except FileNotFoundError:
            raise BlobNotFound(
                f"blob {sha256} is not stored", field="sha256", expected="a stored digest"
            ) from None

    @staticmethod
    def _check_stored(header: BlobHeader, sha256: str, stored: int) -> None:
        if header.sha256 != sha256:
            raise BlobCorrupted(
                f"blob {sha256}: file header names digest {header.sha256}",
                field="header.sha256",
                expected=sha256,
            )
        if stored != header.stored_size():
            raise BlobCorrupted(
                f"blob {sha256}: stored file has {stored} bytes (truncated or extended)",
                field="stored_size",
                expected=f"{header.stored_size()} bytes for {header.size} plaintext bytes",
            )

    def _session(self, upload_id: str, *, ending: bool = False) -> _Session:
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidBlobArgument(
                f"upload_id {upload_id!r}", field="upload_id", expected="32 lowercase hex digits"
            )
        with self._guard:
            lock = self._id_locks.setdefault(upload_id, threading.Lock())
        return _Session(self, upload_id, lock, ending)

    def _load(self, upload_id: str) -> UploadFiles:
        """The live session for `upload_id`, recovering it from disk after a restart."""
        with self._guard:
            files = self._open.get(upload_id)
        if files is not None:
            return files
        folder = self._uploads / upload_id
        if not (folder / "state").is_file():
            raise UploadNotFound(
                f"upload {upload_id} does not exist (finished, aborted or never begun)",
                field="upload_id",
                expected="the id of an open upload",
            )
        files = UploadFiles(folder, self.keyring, self.chunk_size)
        try:
            if os.stat(files.data_path).st_nlink > 1:
                # Crashed between publishing the blob (a hard link) and removing the session.
                files.discard()
                raise UploadNotFound(
                    f"upload {upload_id} was already finished",
                    field="upload_id",
                    expected="the id of an open upload",
                )
            files.recover()
        except BaseException:
            files.close()
            raise
        with self._guard:
            self._open[upload_id] = files
        return files

    def _forget(self, upload_id: str) -> None:
        with self._guard:
            self._open.pop(upload_id, None)
            self._id_locks.pop(upload_id, None)


class _Session:
    """Serialises work on one upload id and keeps the in-memory session consistent.

    On an unexpected error (I/O failure mid-append) the in-memory state may be ahead of the
    files, so the session is dropped: the next call recovers it from the last commit.
    """

    def __init__(self, store: LocalBlobStore, upload_id: str, lock: threading.Lock, ending: bool):
        self._store = store
        self._upload_id = upload_id
        self._lock = lock
        self._ending = ending
        self._files: UploadFiles | None = None

    def __enter__(self) -> UploadFiles:
        self._lock.acquire()
        try:
            self._files = self._store._load(self._upload_id)
        except BaseException:
            self._lock.release()
            raise
        return self._files

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        try:
            unexpected = exc_type is not None and not issubclass(exc_type, BlobError)
            if unexpected or self._ending:
                assert self._files is not None
                self._files.close()
                self._store._forget(self._upload_id)
        finally:
            self._lock.release()
