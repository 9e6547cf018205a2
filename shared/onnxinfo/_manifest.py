"""Manifests of model folders (path, sha256, size of every file) with Ed25519 signatures."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from modelfleet.onnxinfo._archive import member_path
from modelfleet.onnxinfo._errors import ArtifactRefused, ManifestInvalid

MANIFEST_FORMAT = 1
# Signatures cover this prefix too, so a manifest signature can never be replayed as a
# signature over some other kind of document signed with the same key.
_SIGNING_CONTEXT = b"modelfleet-manifest-v1\n"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str
    size: int


def _walk(folder: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Regular files under `folder` as (relative posix path, path, stat); refuses links and
    special files, which a manifest could not pin down."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            info = os.lstat(path)
            rel = path.relative_to(folder).as_posix()
            if stat.S_ISLNK(info.st_mode):
                raise ManifestInvalid(
                    f"{rel!r} is a symbolic link",
                    field=f"files[{rel}]",
                    expected="regular files and folders only",
                )
            if stat.S_ISREG(info.st_mode):
                yield rel, path, info
            elif not stat.S_ISDIR(info.st_mode):
                raise ManifestInvalid(
                    f"{rel!r} is a special file",
                    field=f"files[{rel}]",
                    expected="regular files and folders only",
                )


def _digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class Manifest:
    """Every file of a model folder, sorted by path; `to_json` is the canonical signed form."""

    files: tuple[ManifestEntry, ...]

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> Manifest:
        root = Path(folder)
        entries = [
            ManifestEntry(rel, _digest(path), info.st_size) for rel, path, info in _walk(root)
        ]
        return cls(tuple(sorted(entries, key=lambda e: e.path)))

    def to_json(self) -> bytes:
        files = [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.files]
        return orjson.dumps(
            {"files": files, "format": MANIFEST_FORMAT}, option=orjson.OPT_SORT_KEYS
        )

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and validate a manifest (paths must be safe, digests hex, sizes >= 0)."""
        try:
            doc = orjson.loads(data)
            if doc["format"] != MANIFEST_FORMAT:
                raise ValueError(f"format {doc['format']!r}")
            entries = tuple(
                ManifestEntry(str(f["path"]), str(f["sha256"]), int(f["size"]))
                for f in doc["files"]
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ManifestInvalid(
                f"manifest is malformed ({exc})",
                field="manifest",
                expected=f'JSON {{"format": {MANIFEST_FORMAT}, "files": [{{path, sha256, size}}]}}',
            ) from None
        for entry in entries:
            try:
                safe = member_path(entry.path)
            except ArtifactRefused:
                safe = None
            if safe is None or str(safe) != entry.path:
                raise ManifestInvalid(
                    f"manifest path {entry.path!r} is not a normalised relative path",
                    field=f"files[{entry.path}].path",
                    expected="a relative posix path without '.', '..' or empty parts",
                )
            if not _SHA256_HEX.fullmatch(entry.sha256) or entry.size < 0:
                raise ManifestInvalid(
                    f"manifest entry {entry.path!r} has digest {entry.sha256!r}, size {entry.size}",
                    field=f"files[{entry.path}]",
                    expected="a lowercase hex sha256 and a non-negative size",
                )
        if sorted(e.path for e in entries) != [e.path for e in entries] or len(
            {e.path for e in entries}
        ) != len(entries):
            raise ManifestInvalid(
                "manifest paths are unsorted or repeated",
                field="files",
                expected="unique paths in sorted order (canonical form)",
            )
        return cls(entries)

    def verify_folder(self, folder: str | os.PathLike[str]) -> None:
        """Check `folder` holds exactly these files with these sizes and digests."""
        root = Path(folder)
        present = {rel: (path, info) for rel, path, info in _walk(root)}
        expected = {e.path: e for e in self.files}
        extra = sorted(set(present) - set(expected))
        missing = sorted(set(expected) - set(present))
        if extra or missing:
            raise ManifestInvalid(
                f"folder does not match its manifest (missing {missing}, unexpected {extra})",
                field="files",
                expected="exactly the files listed in the manifest",
            )
        for entry in self.files:
            path, info = present[entry.path]
            if info.st_size != entry.size:
                raise ManifestInvalid(
                    f"{entry.path!r} has {info.st_size} bytes",
                    field=f"files[{entry.path}].size",
                    expected=f"{entry.size} bytes",
                )
            actual = _digest(path)
            if actual != entry.sha256:
                raise ManifestInvalid(
                    f"{entry.path!r} has sha256 {actual}",
                    field=f"files[{entry.path}].sha256",
                    expected=entry.sha256,
                )


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    """The Ed25519 signature of the manifest's canonical JSON."""
    return key.sign(_SIGNING_CONTEXT + manifest.to_json())


def verify_manifest(data: bytes, signature: bytes, key: Ed25519PublicKey) -> Manifest:
    """Verify `signature` over the exact manifest bytes received, then parse them."""
    try:
        key.verify(signature, _SIGNING_CONTEXT + data)
    except InvalidSignature:
        raise ManifestInvalid(
            "manifest signature does not verify",
            field="signature",
            expected="an Ed25519 signature by the hub's manifest key",
        ) from None
    return Manifest.from_json(data)


def verify_model_folder(
    folder: str | os.PathLike[str], data: bytes, signature: bytes, key: Ed25519PublicKey
) -> Manifest:
    """What an agent does before loading: signature first, then every file's size and digest."""
    manifest = verify_manifest(data, signature, key)
    manifest.verify_folder(folder)
    return manifest
