"""Fuzz safe_extract: archive bytes -> a fresh folder; nothing may be written outside it.

Byte 0 picks the input kind. 0xFF: the rest describes members, one per line as
`KIND NAME[=DATA]` (KIND f file, d dir, s symlink, h hard link, DATA the link target or
the file's bytes), packed as a tar; 0xFE: the same members packed as a zip. Anything else:
the whole input is the archive file. Only UnsafeArchive may escape; on success the files
listed are exactly the regular files in the destination; on refusal it does not exist.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import atheris
from _harness import fuzz

with atheris.instrument_imports(include=["modelfleet.onnxinfo"]):
    from modelfleet.onnxinfo import ExtractLimits, UnsafeArchive, safe_extract

TAR_MEMBERS, ZIP_MEMBERS = 0xFF, 0xFE
LIMITS = ExtractLimits(max_members=64, max_member_bytes=1 << 20, max_total_bytes=4 << 20)
_ROOT = Path(tempfile.mkdtemp(prefix="fuzz-extract-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
# The archive and the destination live two levels down, so `../` and `../../` land in
# folders this harness watches.
SANDBOX = _ROOT / "a" / "b"
SANDBOX.mkdir(parents=True)
ARCHIVE = SANDBOX / "input.archive"
DEST = SANDBOX / "out"


def _members(spec: bytes) -> list[tuple[str, str, bytes]]:
    out = []
    for line in spec.split(b"\n"):
        if len(line) < 2:
            continue
        kind, rest = chr(line[0]), line[2:]
        name, _, extra = rest.partition(b"=")
        out.append((kind, name.decode("utf-8", "surrogateescape"), extra))
    return out


def _tar(members: list[tuple[str, str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for kind, name, extra in members:
            info = tarfile.TarInfo(name)
            types = {"d": tarfile.DIRTYPE, "s": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}
            info.type = types.get(kind, tarfile.REGTYPE)
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = extra.decode("utf-8", "surrogateescape")
                archive.addfile(info)
            elif info.type == tarfile.REGTYPE:
                info.size = len(extra)
                archive.addfile(info, io.BytesIO(extra))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def _zip(members: list[tuple[str, str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for kind, name, extra in members:
            info = zipfile.ZipInfo(name)
            if kind == "s":
                info.external_attr = 0o120777 << 16
            elif kind == "d":
                info.external_attr = 0o040755 << 16
            archive.writestr(info, extra)
    return buffer.getvalue()


def archive_bytes(data: bytes) -> bytes | None:
    """The archive file an input stands for; None if the generator itself refuses it."""
    if data[:1] not in (bytes([TAR_MEMBERS]), bytes([ZIP_MEMBERS])):
        return data
    members = _members(data[1:])
    try:
        return _tar(members) if data[0] == TAR_MEMBERS else _zip(members)
    except (ValueError, UnicodeError, OverflowError, tarfile.TarError):
        return None  # names tarfile/zipfile cannot even write


def _tree(root: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, files in os.walk(root)
        for n in dirs + files
    }


def test_one_input(data: bytes) -> None:
    if not data:
        return
    archive = archive_bytes(data)
    if archive is None:
        return
    ARCHIVE.write_bytes(archive)
    try:
        before = _tree(_ROOT)
        try:
            extracted = safe_extract(ARCHIVE, DEST, LIMITS)
        except UnsafeArchive:
            assert not DEST.exists(), "a refused archive left its destination behind"
            extracted = None
        new = _tree(_ROOT) - before
        outside = {p for p in new if p != "a/b/out" and not p.startswith("a/b/out/")}
        assert not outside, f"written outside the destination: {sorted(outside)}"
        if extracted is not None:
            files = set()
            for path in DEST.rglob("*"):
                assert not path.is_symlink(), f"symbolic link extracted: {path}"
                assert path.resolve().is_relative_to(DEST.resolve()), path
                if path.is_file():
                    files.add(path.relative_to(DEST).as_posix())
            assert files == set(extracted), (sorted(files), extracted)
    finally:
        shutil.rmtree(DEST, ignore_errors=True)


if __name__ == "__main__":
    fuzz(test_one_input)
