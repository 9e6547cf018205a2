"""Artifact cache under D/artifacts: resumable pulls by digest, verification, LRU size cap.

Layout: ``<sha256>.partial`` while a pull is in progress (a restart resumes from its size),
``<sha256>/model.onnx`` once the digest matched. Only complete folders are ever loaded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelfleet.agent.node.repository import MODEL_FILE
from modelfleet.onnxinfo import Manifest, ManifestEntry, ManifestInvalid, verify_model_folder

log = logging.getLogger(__name__)
DEFAULT_CAP_BYTES = 20 << 30

#: streams the artifact's bytes from an offset (a hub Download call)
Source = Callable[[str, int], AsyncIterator[bytes]]


class ArtifactError(RuntimeError):
    """The artifact cannot be used: digest, size or signature wrong, or the pull failed."""


class ArtifactCache:
    """Content-addressed model files; least recently used ones go first past the cap."""

    def __init__(self, root: Path, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.root = root
        self.cap_bytes = cap_bytes
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, sha256: str) -> Path:
        return self.root / sha256

    def cached(self, sha256: str) -> Path | None:
        """The model file if complete; touching it marks it recently used."""
        path = self.folder(sha256) / MODEL_FILE
        if not path.is_file():
            return None
        os.utime(self.folder(sha256))
        return path

    async def fetch(self, sha256: str, size: int, source: Source) -> Path:
        """The model file for `sha256`, pulled (resuming a partial pull) when not cached."""
        found = self.cached(sha256)
        if found is not None:
            return found
        partial = self.root / f"{sha256}.partial"
        offset = partial.stat().st_size if partial.exists() else 0
        if offset > size:
            partial.unlink()
            offset = 0
        if offset:
            log.info("[Artifacts.Download] sha256=%s resuming at %d of %d", sha256, offset, size)
        with partial.open("ab") as handle:
            async for chunk in source(sha256, offset):
                handle.write(chunk)
                offset += len(chunk)
                if offset > size:
                    break
            handle.flush()
            os.fsync(handle.fileno())
        await asyncio.to_thread(self._commit, partial, sha256, size)
        path = self.folder(sha256) / MODEL_FILE
        log.info("[Artifacts.Download] sha256=%s stored (%d bytes)", sha256, size)
        return path

    def _commit(self, partial: Path, sha256: str, size: int) -> None:
        actual_size = partial.stat().st_size
        digest = _file_digest(partial)
        if actual_size != size or digest != sha256:
            # A wrong file is never kept: the next attempt pulls from scratch.
            partial.unlink(missing_ok=True)
            raise ArtifactError(
                f"artifact {sha256[:12]}: digest mismatch (got {actual_size} bytes with "
                f"sha256 {digest[:12]}, expected {size} bytes)"
            )
        staging = self.root / f".{sha256}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        partial.replace(staging / MODEL_FILE)
        staging.replace(self.folder(sha256))

    def verify(self, sha256: str, size: int, signature_b64: str, key: Ed25519PublicKey) -> None:
        """Check the hub's signature over the manifest {model.onnx: sha256, size}, then the file."""
        manifest = Manifest((ManifestEntry(MODEL_FILE, sha256, size),))
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except ValueError:
            raise ArtifactError(
                f"artifact {sha256[:12]}: manifest signature is not base64"
            ) from None
        try:
            verify_model_folder(self.folder(sha256), manifest.to_json(), signature, key)
        except ManifestInvalid as exc:
            # A cached file that no longer matches is dropped, so the next attempt pulls again.
            if exc.field != "signature":
                shutil.rmtree(self.folder(sha256), ignore_errors=True)
            raise ArtifactError(f"artifact {sha256[:12]}: {exc}") from None

    def evict(self, keep: Collection[str]) -> list[str]:
        """Remove least recently used artifacts not in `keep` until under the cap."""
        entries = []
        total = 0
        for folder in self.root.iterdir():
            if folder.is_dir() and not folder.name.startswith("."):
                used = _size(folder)
                total += used
                entries.append((folder.stat().st_mtime, folder, used))
        removed = []
        for _, folder, used in sorted(entries):
            if total <= self.cap_bytes:
                break
            if folder.name in keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= used
            removed.append(folder.name)
            log.info("evicted artifact %s (%d bytes)", folder.name[:12], used)
        return removed


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
