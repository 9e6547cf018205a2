"""Errors raised by blob stores; each names the field at fault and what was expected."""

from __future__ import annotations


class BlobError(Exception):
    """Base of every blob-store error; `field` and `expected` let an RPC layer answer precisely."""

    def __init__(self, message: str, *, field: str = "", expected: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.expected = expected


class InvalidBlobArgument(BlobError):
    """A caller-supplied value is malformed (digest, size, offset, upload id)."""


class UploadNotFound(BlobError):
    """No upload session with that id (never begun, finished, aborted or discarded)."""


class UploadBusy(BlobError):
    """The upload session is held by another store instance or process."""


class OffsetMismatch(BlobError):
    """A write did not start at the upload's committed offset."""

    def __init__(self, upload_id: str, expected_offset: int, got: int) -> None:
        super().__init__(
            f"upload {upload_id}: write offset {got} does not match the committed offset "
            f"{expected_offset}; resume from offset {expected_offset}",
            field="offset",
            expected=str(expected_offset),
        )
        self.expected_offset = expected_offset


class UploadVerificationFailed(BlobError):
    """finish() found a size or digest different from the declaration; the upload is discarded."""


class BlobNotFound(BlobError):
    """No blob with that digest is stored."""


class BlobCorrupted(BlobError):
    """Stored bytes failed authentication or are truncated: tampering or disk corruption."""


class KeyringError(BlobError):
    """The keyring file is missing, malformed, too permissive, or lacks a needed key."""
