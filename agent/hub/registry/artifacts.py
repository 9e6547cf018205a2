"""Workspace-scoped artifact access over the blob store, and blob errors as hub errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from sqlalchemy.orm import Session

from modelfleet.agent.hub.blobs import (
    BlobCorrupted,
    BlobError,
    BlobNotFound,
    BlobStore,
    InvalidBlobArgument,
    OffsetMismatch,
    UploadBusy,
    UploadNotFound,
    UploadVerificationFailed,
)
from modelfleet.agent.hub.blobs._store import check_digest
from modelfleet.agent.hub.db import WorkspaceArtifact
from modelfleet.agent.hub.errors import (
    FailedPrecondition,
    HubError,
    InvalidArgument,
    NotFound,
)

MiB = 1 << 20
# Upload chunks above this are refused; it stays under gRPC's default 4 MiB message limit.
MAX_CHUNK_BYTES = 2 * MiB


class UploadConflict(HubError):
    """Another stream is writing the same upload right now."""

    code = grpc.StatusCode.ABORTED


class ArtifactCorrupted(HubError):
    """Stored bytes failed authentication: tampering or disk corruption."""

    code = grpc.StatusCode.DATA_LOSS


def digest(field: str, value: str) -> str:
    """`value` if it is a lowercase hex SHA-256, else INVALID_ARGUMENT naming `field`."""
    try:
        return check_digest(value, field)
    except InvalidBlobArgument as exc:
        raise InvalidArgument(field, exc.expected, got=repr(value[:80])) from None


def visible(session: Session, workspace_id: str, sha256: str) -> WorkspaceArtifact | None:
    return session.get(WorkspaceArtifact, (workspace_id, sha256))


def require_visible(
    session: Session, workspace_id: str, sha256: str, field: str = "sha256"
) -> WorkspaceArtifact:
    """The workspace's artifact; NOT_FOUND whether the digest is unknown or another's."""
    row = visible(session, workspace_id, sha256)
    if row is None:
        raise NotFound(f"{field}: no artifact {sha256} in this workspace (upload it first)")
    return row


@contextmanager
def blob_errors() -> Iterator[None]:
    """Translate blob-store errors into status codes with the store's precise message."""
    try:
        yield
    except OffsetMismatch as exc:
        raise FailedPrecondition(f"offset: {exc}") from None
    except UploadVerificationFailed as exc:
        raise InvalidArgument(exc.field, exc.expected, got=str(exc)) from None
    except InvalidBlobArgument as exc:
        raise InvalidArgument(exc.field or "request", exc.expected, got=str(exc)) from None
    except (UploadNotFound, BlobNotFound) as exc:
        raise NotFound(f"{exc.field}: {exc}") from None
    except UploadBusy as exc:
        raise UploadConflict(f"{exc.field}: {exc}") from None
    except BlobCorrupted as exc:
        raise ArtifactCorrupted(f"artifact {exc}") from None
    except BlobError:
        # Keyring trouble is the operator's, not the caller's: INTERNAL with a reference.
        raise


def _copy(store: BlobStore, sha256: str, target: Path) -> None:
    with open(target, "xb") as out:
        for piece in store.read(sha256):
            out.write(piece)


async def copy_to_file(store: BlobStore, sha256: str, target: Path) -> None:
    """Stream a stored blob into `target` (decrypted, chunk by chunk, never whole in memory)."""
    with blob_errors():
        await asyncio.to_thread(_copy, store, sha256, target)
