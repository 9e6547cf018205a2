"""Extract tar and zip archives of model folders without letting any member escape."""

from __future__ import annotations

import lzma
import os
import re
import secrets
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from modelfleet.onnxinfo._errors import UnsafeArchive

_DRIVE = re.compile(r"^[A-Za-z]:")
_COPY_CHUNK = 1 << 20
_SAFE_NAME = "a relative path without '..', backslashes or NUL"
_MAX_NAME_BYTES = 1024


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds that stop archive bombs: member count and bytes written (per member and total)."""

    max_members: int = 10_000
    max_member_bytes: int = 16 << 30
    max_total_bytes: int = 64 << 30


@dataclass(frozen=True)
class _Member:
    name: str
    kind: str  # "file", "dir" or "hardlink"
    size: int
    open: Callable[[], AbstractContextManager[IO[bytes]]] | None = None
    link_target: str = ""


def member_path(name: str) -> PurePosixPath | None:
    """The safe relative path of a member name, None for the archive root ("./");
    UnsafeArchive for absolute names, drive letters, backslashes, NUL or `..`."""
    field = f"member {name!r}"
    if not name or "\x00" in name or "\\" in name:
        raise UnsafeArchive(
            f"archive member name {name!r} is empty or has NUL or a backslash",
            field=field,
            expected=_SAFE_NAME,
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeArchive(
            f"archive member {name!r} has an absolute path", field=field, expected=_SAFE_NAME
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    # Portable bounds (NAME_MAX, and well under PATH_MAX with the destination in front):
    # longer names would fail at open() after earlier members were already written.
    if len(os.fsencode(name)) > _MAX_NAME_BYTES or any(len(os.fsencode(p)) > 255 for p in parts):
        raise UnsafeArchive(
            f"archive member name of {len(name)} characters is too long",
            field=f"member {name[:64]!r}",
            expected=f"at most {_MAX_NAME_BYTES} bytes, 255 per path component",
        )
    if ".." in parts:
        raise UnsafeArchive(
            f"archive member {name!r} climbs out with '..'", field=field, expected=_SAFE_NAME
        )
    return PurePosixPath(*parts) if parts else None


def _refuse_kind(name: str, what: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"archive member {name!r} is {what}",
        field=f"member {name!r}",
        expected="regular files and directories only (hard links to earlier members allowed)",
    )


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
    for info in archive:
        if info.isdir():
            yield _Member(info.name, "dir", 0)
        elif info.isreg():
            opener = _tar_opener(archive, info)
            yield _Member(info.name, "file", info.size, opener)
        elif info.islnk():
            yield _Member(info.name, "hardlink", 0, link_target=info.linkname)
        elif info.issym():
            raise _refuse_kind(info.name, f"a symbolic link (to {info.linkname!r})")
        else:
            raise _refuse_kind(info.name, "a device, FIFO or other special file")


def _tar_opener(
    archive: tarfile.TarFile, info: tarfile.TarInfo
) -> Callable[[], AbstractContextManager[IO[bytes]]]:
    def opener() -> AbstractContextManager[IO[bytes]]:
        handle = archive.extractfile(info)
        assert handle is not None  # regular members always have a file object
        return handle

    return opener


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise _refuse_kind(info.filename, "a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse_kind(info.filename, "a device, FIFO or other special file")
        # Not info.is_dir(): it indexes the name, and a name may be empty here.
        if info.filename.endswith("/"):
            yield _Member(info.filename, "dir", 0)
        else:
            yield _Member(info.filename, "file", info.file_size, _zip_opener(archive, info))


def _zip_opener(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo
) -> Callable[[], AbstractContextManager[IO[bytes]]]:
    return lambda: archive.open(info)


@contextmanager
def _reading(name: str) -> Iterator[None]:
    """OSError while reading a member means a damaged archive (a bad offset, a corrupt
    stream); OSError while writing is the disk's and propagates unchanged."""
    try:
        yield
    except OSError as exc:
        raise UnsafeArchive(
            f"archive member {name!r} cannot be read ({exc})",
            field=f"member {name!r}",
            expected="a readable tar or zip archive",
        ) from None


class _Writer:
    """Writes members under a fresh staging folder, enforcing the limits as bytes arrive."""

    def __init__(self, root: Path, limits: ExtractLimits) -> None:
        self.root = root
        self.limits = limits
        self.members = 0
        self.total = 0
        self.files: dict[PurePosixPath, Path] = {}

    def add(self, member: _Member) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnsafeArchive(
                f"archive has more than {self.limits.max_members} members",
                field="members",
                expected=f"at most {self.limits.max_members} members",
            )
        rel = member_path(member.name)
        if rel is None:
            return
        target = self.root.joinpath(*rel.parts)
        try:
            if member.kind == "dir":
                target.mkdir(parents=True, exist_ok=True, mode=0o755)
            else:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                self._write_file(member, rel, target)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise UnsafeArchive(
                f"archive member {member.name!r} collides with another member",
                field=f"member {member.name!r}",
                expected="each path to appear once, as either a file or a directory",
            ) from None

    def _write_file(self, member: _Member, rel: PurePosixPath, target: Path) -> None:
        if member.kind == "hardlink":
            source = self.files.get(member_path(member.link_target) or PurePosixPath("."))
            if source is None:
                raise _refuse_kind(
                    member.name, f"a hard link to {member.link_target!r}, not an earlier file"
                )
            self._copy(member.name, lambda: open(source, "rb"), target)  # noqa: SIM115
        else:
            assert member.open is not None
            if member.size > self.limits.max_member_bytes:
                raise self._too_big(member.name)
            self._copy(member.name, member.open, target)
        self.files[rel] = target

    def _copy(
        self,
        name: str,
        opener: Callable[[], AbstractContextManager[IO[bytes]]],
        target: Path,
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        written = 0
        with _reading(name):
            stream = opener()
        with stream as source, os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            while True:
                with _reading(name):
                    chunk = source.read(_COPY_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                self.total += len(chunk)
                # Counted as bytes arrive: declared sizes in headers can lie.
                if written > self.limits.max_member_bytes:
                    raise self._too_big(name)
                if self.total > self.limits.max_total_bytes:
                    raise UnsafeArchive(
                        f"archive expands beyond {self.limits.max_total_bytes} bytes",
                        field="total_size",
                        expected=f"at most {self.limits.max_total_bytes} bytes in all",
                    )
                out.write(chunk)

    def _too_big(self, name: str) -> UnsafeArchive:
        return UnsafeArchive(
            f"archive member {name!r} is larger than {self.limits.max_member_bytes} bytes",
            field=f"member {name!r}",
            expected=f"at most {self.limits.max_member_bytes} bytes per member",
        )


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    limits: ExtractLimits | None = None,
) -> list[str]:
    """Extract a tar (any compression) or zip archive into `dest`, which must not exist yet
    (or be an empty folder). All or nothing: on any refusal nothing is left at `dest`.
    Returns the relative paths of the extracted files."""
    limits = limits or ExtractLimits()
    source, target = Path(archive), Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UnsafeArchive(
            f"destination {target.name!r} already exists", field="dest", expected="a new folder"
        )
    staging = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700, parents=True)
    try:
        writer = _Writer(staging, limits)
        try:
            _extract_into(source, writer)
        except _DAMAGED as exc:
            raise _damaged(source, exc) from None
        except OSError as exc:
            # gzip and bz2 report corrupt streams as OSError without an errno; disk errors
            # (which have one) are not the archive's fault and propagate as they are.
            if exc.errno is not None:
                raise
            raise _damaged(source, exc) from None
        staging.chmod(0o755)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(str(rel) for rel in writer.files)


# What readers of damaged archives raise: zipfile also raises NotImplementedError for unknown
# compression methods, RuntimeError for encrypted members and UnicodeDecodeError for names
# flagged UTF-8 that are not; zlib/lzma for corrupt streams.
_DAMAGED = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    UnicodeDecodeError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
)


def _extract_into(source: Path, writer: _Writer) -> None:
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zipped:
            for member in _zip_members(zipped):
                writer.add(member)
    elif tarfile.is_tarfile(source):
        with tarfile.open(source, "r:*") as tarred:
            for member in _tar_members(tarred):
                writer.add(member)
    else:
        raise UnsafeArchive(
            f"{source.name!r} is neither a tar nor a zip archive",
            field="archive",
            expected="a tar (optionally gzip/bzip2/xz compressed) or zip file",
        )


def _damaged(source: Path, exc: BaseException) -> UnsafeArchive:
    return UnsafeArchive(
        f"archive {source.name!r} is damaged ({exc})",
        field="archive",
        expected="a readable tar or zip archive",
    )
