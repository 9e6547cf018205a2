"""Content-addressed, resumable, encrypted-at-rest blob storage for model artifacts."""

from modelfleet.agent.hub.blobs._errors import (
    BlobCorrupted,
    BlobError,
    BlobNotFound,
    InvalidBlobArgument,
    KeyringError,
    OffsetMismatch,
    UploadBusy,
    UploadNotFound,
    UploadVerificationFailed,
)
from modelfleet.agent.hub.blobs._keyring import (
    Keyring,
    KeyringFile,
    KeySource,
    create_keyring,
    load_keyring,
    retire_keys,
    rotate_keyring,
)
from modelfleet.agent.hub.blobs._local import LocalBlobStore
from modelfleet.agent.hub.blobs._store import BlobStats, BlobStore

__all__ = [
    "BlobCorrupted",
    "BlobError",
    "BlobNotFound",
    "BlobStats",
    "BlobStore",
    "InvalidBlobArgument",
    "KeySource",
    "Keyring",
    "KeyringError",
    "KeyringFile",
    "LocalBlobStore",
    "OffsetMismatch",
    "UploadBusy",
    "UploadNotFound",
    "UploadVerificationFailed",
    "create_keyring",
    "load_keyring",
    "retire_keys",
    "rotate_keyring",
]
