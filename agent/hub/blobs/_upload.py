"""One resumable upload on disk: encrypted records appended to a data file plus a commit journal.

Folder layout: `data` (blob header + sealed full blocks, becomes the blob file on finish),
`state` (the last commit: block count, offset and the sealed partial block),
`lock` (flock held while a store instance owns the session). A commit fsyncs `data`, then
atomically replaces `state`; after a crash the session resumes from the last commit.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import struct
from pathlib import Path
from typing import BinaryIO

import orjson

from modelfleet.agent.hub.blobs._errors import BlobCorrupted, UploadBusy
from modelfleet.agent.hub.blobs._format import (
    BlobHeader,
    open_block,
    open_tail,
    read_header,
    seal_block,
    seal_tail,
)
from modelfleet.agent.hub.blobs._keyring import KeySource

_STATE_MAGIC = b"MFUPLD\x00\x01"


def fsync_dir(path: Path) -> None:
    """Make a rename or link inside `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class UploadFiles:
    """An upload session held by this process. Not thread-safe: the store serialises per id."""

    def __init__(self, folder: Path, keyring: KeySource, buffer_size: int) -> None:
        self.folder = folder
        self.upload_id = folder.name
        self._keyring = keyring
        self._buffer_size = buffer_size
        self._lock_fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise UploadBusy(
                f"upload {self.upload_id} is in use by another store instance or process",
                field="upload_id",
                expected="an upload not being written elsewhere",
            ) from None
        self._data: BinaryIO | None = None
        self.header = BlobHeader("", 1, "", 0)
        self._binding = b""
        self.blocks = 0
        self.offset = 0
        self.committed = 0
        self._tail = bytearray()
        self._hasher = hashlib.sha256()

    # -- lifecycle ---------------------------------------------------------------------------

    def create(self, header: BlobHeader) -> None:
        """Start a new session: write the blob header and the first commit."""
        self.header = header
        self._binding = header.binding
        with open(self.data_path, "xb") as handle:
            handle.write(header.encode())
        self._open_data()
        self.commit()

    def recover(self) -> None:
        """Load the last commit: drop uncommitted records, rebuild the running digest."""
        self._open_data()
        assert self._data is not None
        self._data.seek(0)
        self.header = read_header(self._data, self.upload_id)
        self._binding = self.header.binding
        raw = (self.folder / "state").read_bytes()
        length = struct.unpack(">I", raw[len(_STATE_MAGIC) : len(_STATE_MAGIC) + 4])[0]
        body_end = len(_STATE_MAGIC) + 4 + length
        doc = orjson.loads(raw[len(_STATE_MAGIC) + 4 : body_end])
        self.blocks, self.offset = int(doc["blocks"]), int(doc["offset"])
        binding = self._binding
        cipher = self._keyring.cipher(self.header.key_id)
        self._data.truncate(self.header.record_offset(self.blocks))
        self._data.seek(self.header.record_offset(0))
        for index in range(self.blocks):
            record = self._data.read(self.header.record_size)
            self._hasher.update(open_block(cipher, binding, index, record, self.upload_id))
        tail_record = raw[body_end:]
        if tail_record:
            self._tail += open_tail(cipher, binding, self.blocks, tail_record, self.upload_id)
        if self.blocks * self.header.block_size + len(self._tail) != self.offset:
            raise BlobCorrupted(
                f"upload {self.upload_id}: journal offset {self.offset} does not match its data",
                field="state",
                expected="a consistent upload journal",
            )
        self._hasher.update(self._tail)
        self.committed = self.offset

    def close(self) -> None:
        """Release the file handles and the session lock (data not yet committed is lost)."""
        if self._data is not None:
            self._data.close()
            self._data = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def discard(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def data_path(self) -> Path:
        return self.folder / "data"

    def _open_data(self) -> None:
        self._data = open(self.data_path, "r+b", buffering=self._buffer_size)  # noqa: SIM115
        self._data.seek(0, os.SEEK_END)

    # -- writing -----------------------------------------------------------------------------

    def append(self, data: bytes | memoryview) -> None:
        """Seal and append `data` (offset and size were checked by the caller)."""
        view = memoryview(data).cast("B")
        self._hasher.update(view)
        block_size = self.header.block_size
        pos = 0
        if self._tail:
            pos = min(block_size - len(self._tail), len(view))
            self._tail += view[:pos]
            if len(self._tail) == block_size:
                self._emit(self._tail)
                self._tail = bytearray()
        while len(view) - pos >= block_size:
            self._emit(view[pos : pos + block_size])
            pos += block_size
        self._tail += view[pos:]
        self.offset += len(view)

    def _emit(self, block: bytes | bytearray | memoryview) -> None:
        assert self._data is not None
        cipher = self._keyring.cipher(self.header.key_id)
        nonce, sealed = seal_block(cipher, self._binding, self.blocks, block)
        self._data.write(nonce)
        self._data.write(sealed)
        self.blocks += 1

    def commit(self) -> None:
        """fsync the data file, then atomically record block count, offset and partial block."""
        assert self._data is not None
        self._data.flush()
        os.fsync(self._data.fileno())
        doc = {"blocks": self.blocks, "offset": self.offset}
        body = orjson.dumps(doc)
        tail = b""
        if self._tail:
            cipher = self._keyring.cipher(self.header.key_id)
            tail = seal_tail(cipher, self._binding, self.blocks, bytes(self._tail))
        temp = self.folder / "state.tmp"
        with open(temp, "wb") as handle:
            handle.write(_STATE_MAGIC + struct.pack(">I", len(body)) + body + tail)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.folder / "state")
        fsync_dir(self.folder)
        self.committed = self.offset

    def seal(self) -> str:
        """Write the final partial block and fsync; returns the sha256 of everything received."""
        if self._tail:
            self._emit(self._tail)
            self._tail = bytearray()
        assert self._data is not None
        self._data.flush()
        os.fsync(self._data.fileno())
        return self._hasher.hexdigest()
