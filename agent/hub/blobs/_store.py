"""The BlobStore interface: content-addressed, resumable uploads and streamed, ranged reads."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from modelfleet.agent.hub.blobs._errors import InvalidBlobArgument

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobStats:
    """What the store knows about one stored blob."""

    sha256: str
    size: int
    key_id: str
    created: datetime


def check_digest(value: str, field: str = "sha256") -> str:
    """Return `value` if it is a lowercase hex sha256 digest, else InvalidBlobArgument."""
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise InvalidBlobArgument(
            f"{field} {value!r} is not a sha256 digest",
            field=field,
            expected="64 lowercase hexadecimal characters",
        )
    return value


class BlobStore(abc.ABC):
    """Blobs addressed by the sha256 of their plaintext.

    An upload is a session: `begin` declares digest and size; `write` appends bytes at the
    committed offset (a streaming RPC calls it once per received chunk); `committed_offset`
    tells a reconnecting client where to resume; `finish` verifies the declaration and makes
    the blob visible (or discards everything). `read` streams plaintext from any offset, so
    a server-streaming RPC can send each yielded chunk as it comes.
    """

    @abc.abstractmethod
    def begin(self, declared_sha256: str, declared_size: int) -> str:
        """Open an upload session and return its id. Callers may skip uploading when
        `exists(declared_sha256)`; uploading a stored digest again is harmless (deduplicated)."""

    @abc.abstractmethod
    def committed_offset(self, upload_id: str) -> int:
        """Make everything received so far durable and return its length (the resume point)."""

    @abc.abstractmethod
    def write(self, upload_id: str, offset: int, data: bytes | memoryview) -> int:
        """Append `data`, which must start at the committed offset; returns the new offset."""

    @abc.abstractmethod
    def finish(self, upload_id: str) -> BlobStats:
        """Verify size and digest against the declaration and publish the blob."""

    @abc.abstractmethod
    def abort(self, upload_id: str) -> None:
        """Discard an upload session and everything it received."""

    @abc.abstractmethod
    def read(self, sha256: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream the plaintext from `offset` (up to `length` bytes) in bounded chunks."""

    @abc.abstractmethod
    def stat(self, sha256: str) -> BlobStats:
        """Size, encrypting key id and creation time of a stored blob."""

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is stored."""

    @abc.abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove a stored blob (BlobNotFound if absent)."""
