"""On-disk blob format: a bound header, then AES-256-GCM records of fixed-size plaintext blocks.

Layout: MAGIC | u32 header length | canonical JSON header | records. Record i holds a random
96-bit nonce followed by the GCM ciphertext+tag of plaintext block i. Every record's associated
data is sha256(MAGIC..header) plus a purpose byte and the block index, so a record cannot be
reordered, moved to another blob, or have its header (size, digest, key id) edited unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelfleet.agent.hub.blobs._errors import BlobCorrupted

MAGIC = b"MFBLOB\x00\x01"
FORMAT_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
RECORD_OVERHEAD = NONCE_BYTES + TAG_BYTES
_MAX_HEADER = 4096
_BLOCK = b"B"
_TAIL = b"T"


@dataclass(frozen=True)
class BlobHeader:
    """What a blob file declares about itself; all of it is authenticated by every record."""

    key_id: str
    block_size: int
    sha256: str
    size: int

    def encode(self) -> bytes:
        doc = {
            "block_size": self.block_size,
            "format": FORMAT_VERSION,
            "key_id": self.key_id,
            "sha256": self.sha256,
            "size": self.size,
        }
        body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        return MAGIC + struct.pack(">I", len(body)) + body

    @property
    def binding(self) -> bytes:
        """The digest of the encoded header, prefixed to every record's associated data."""
        return hashlib.sha256(self.encode()).digest()

    @property
    def block_count(self) -> int:
        return -(-self.size // self.block_size)

    @property
    def record_size(self) -> int:
        return self.block_size + RECORD_OVERHEAD

    def stored_size(self) -> int:
        """The exact length of a complete blob file with this header."""
        full, last = divmod(self.size, self.block_size)
        tail = last + RECORD_OVERHEAD if last else 0
        return len(self.encode()) + full * self.record_size + tail

    def record_offset(self, index: int) -> int:
        return len(self.encode()) + index * self.record_size


def read_header(handle: BinaryIO, name: str) -> BlobHeader:
    """Parse the header at the start of `handle`; BlobCorrupted if it is not a blob header."""
    prefix = handle.read(len(MAGIC) + 4)
    if len(prefix) < len(MAGIC) + 4 or prefix[: len(MAGIC)] != MAGIC:
        raise BlobCorrupted(
            f"blob {name}: file does not start with the blob format magic",
            field="header",
            expected="a modelfleet blob header",
        )
    (length,) = struct.unpack(">I", prefix[len(MAGIC) :])
    body = handle.read(min(length, _MAX_HEADER))
    try:
        if length > _MAX_HEADER or len(body) != length:
            raise ValueError("header length out of range")
        doc = orjson.loads(body)
        if doc["format"] != FORMAT_VERSION:
            raise ValueError(f"format {doc['format']!r}")
        header = BlobHeader(
            key_id=str(doc["key_id"]),
            block_size=int(doc["block_size"]),
            sha256=str(doc["sha256"]),
            size=int(doc["size"]),
        )
        if header.block_size <= 0 or header.size < 0:
            raise ValueError("non-positive block size or negative size")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BlobCorrupted(
            f"blob {name}: header is unreadable ({exc})",
            field="header",
            expected=f"a format {FORMAT_VERSION} blob header",
        ) from None
    return header


def _aad(binding: bytes, purpose: bytes, index: int) -> bytes:
    return binding + purpose + struct.pack(">Q", index)


def seal_block(
    cipher: AESGCM, binding: bytes, index: int, plaintext: bytes | bytearray | memoryview
) -> tuple[bytes, bytes]:
    """Encrypt plaintext block `index`; returns the record as (nonce, ciphertext + tag),
    two pieces so a megabyte-sized ciphertext is never copied just to prepend 12 bytes."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, cipher.encrypt(nonce, plaintext, _aad(binding, _BLOCK, index))


def open_block(cipher: AESGCM, binding: bytes, index: int, record: bytes, name: str) -> bytes:
    """Decrypt record `index`; BlobCorrupted naming the block if authentication fails."""
    view = memoryview(record)
    try:
        return cipher.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], _aad(binding, _BLOCK, index))
    except (InvalidTag, ValueError):
        raise BlobCorrupted(
            f"blob {name}: block {index} failed authentication (tampered, swapped or corrupted)",
            field=f"block[{index}]",
            expected="an authentic AES-256-GCM record for this blob and position",
        ) from None


def seal_tail(cipher: AESGCM, binding: bytes, index: int, plaintext: bytes) -> bytes:
    """Encrypt a partial block kept aside during an upload (never valid as a blob record)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, _aad(binding, _TAIL, index))


def open_tail(cipher: AESGCM, binding: bytes, index: int, record: bytes, name: str) -> bytes:
    try:
        return cipher.decrypt(
            record[:NONCE_BYTES], record[NONCE_BYTES:], _aad(binding, _TAIL, index)
        )
    except (InvalidTag, ValueError):
        raise BlobCorrupted(
            f"upload {name}: the saved partial block failed authentication",
            field="tail",
            expected="an authentic AES-256-GCM partial block record",
        ) from None
