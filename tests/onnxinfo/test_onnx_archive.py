"""safe_extract: normal model archives extract; traversal, link, device and bomb corpora refused."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from onnxbuild import add_weights_model, save_external

from modelfleet.onnxinfo import ExtractLimits, UnsafeArchive, inspect_model, safe_extract

# Member names that must never be written where they point (zip-slip and tar traversal).
NASTY_NAMES = [
    "/etc/passwd",
    "//etc/passwd",
    "../evil.txt",
    "../../../../../../tmp/evil.txt",
    "a/../../evil.txt",
    "./../evil.txt",
    "a/b/../../../evil.txt",
    "..",
    "C:\\Windows\\evil.txt",
    "C:/Windows/evil.txt",
    "c:evil.txt",
    "a\\..\\..\\evil.txt",
    "\\evil.txt",
    "..\\evil.txt",
    "",
]


def _tar(path: Path, members: list[tarfile.TarInfo], payload: bytes = b"pwned") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info in members:
            if info.isreg():
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
            else:
                archive.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def _assert_nothing_written(tmp_path: Path, dest: Path) -> None:
    assert not dest.exists()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.suffix == ".txt" or "partial" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_tar_traversal_names_refused(tmp_path: Path, name: str) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_file("model/ok.bin"), _file(name)])
    dest = tmp_path / "out" / "dest"
    with pytest.raises(UnsafeArchive) as info:
        safe_extract(archive, dest)
    assert info.value.field.startswith("member ")
    _assert_nothing_written(tmp_path, dest)


@pytest.mark.parametrize("name", [n for n in NASTY_NAMES if n])
def test_zip_slip_names_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "a.zip", [("model/ok.bin", b"ok"), (zipfile.ZipInfo(name), b"x")])
    dest = tmp_path / "out" / "dest"
    with pytest.raises(UnsafeArchive, match=r"absolute|climbs out|backslash"):
        safe_extract(archive, dest)
    _assert_nothing_written(tmp_path, dest)


@pytest.mark.parametrize(
    "member",
    [
        _link("escape", "/etc", tarfile.SYMTYPE),
        _link("escape", "../../..", tarfile.SYMTYPE),
        _link("inner", "model/ok.bin", tarfile.SYMTYPE),
        _link("hard", "/etc/passwd", tarfile.LNKTYPE),
        _link("hard", "../../etc/passwd", tarfile.LNKTYPE),
        _link("hard", "not/extracted/yet", tarfile.LNKTYPE),
        _link("tty", "", tarfile.CHRTYPE),
        _link("disk", "", tarfile.BLKTYPE),
        _link("pipe", "", tarfile.FIFOTYPE),
    ],
    ids=lambda m: f"{m.name}->{m.linkname or m.type!r}",
)
def test_tar_links_and_devices_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_file("model/ok.bin"), member, _file("escape/x.txt")])
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match=r"symbolic link|hard link|device|climbs out|absolute"):
        safe_extract(archive, dest)
    _assert_nothing_written(tmp_path, dest)


def test_tar_hard_link_to_earlier_member_is_copied(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "a.tar.gz",
        [_file("model/w.bin"), _link("model/w2.bin", "model/w.bin", tarfile.LNKTYPE)],
    )
    assert safe_extract(archive, tmp_path / "dest") == ["model/w.bin", "model/w2.bin"]
    copy = tmp_path / "dest" / "model" / "w2.bin"
    assert copy.read_bytes() == b"pwned"
    assert copy.stat().st_nlink == 1


def test_zip_symlink_and_device_entries_refused(tmp_path: Path) -> None:
    for mode in (stat.S_IFLNK | 0o777, stat.S_IFCHR | 0o600):
        info = zipfile.ZipInfo("link")
        info.external_attr = mode << 16
        archive = _zip(tmp_path / "a.zip", [(info, b"/etc/passwd")])
        with pytest.raises(UnsafeArchive, match=r"symbolic link|device"):
            safe_extract(archive, tmp_path / "dest")
        _assert_nothing_written(tmp_path, tmp_path / "dest")


def test_setuid_bits_are_not_extracted(tmp_path: Path) -> None:
    info = _file("run.sh")
    info.mode = 0o4777
    archive = _tar(tmp_path / "a.tar.gz", [info])
    safe_extract(archive, tmp_path / "dest")
    assert stat.S_IMODE((tmp_path / "dest" / "run.sh").stat().st_mode) == 0o644


def test_duplicate_member_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_file("a"), _file("./a")])
    with pytest.raises(UnsafeArchive, match="collides"):
        safe_extract(archive, tmp_path / "dest")


def test_zip_bomb_stopped_by_total_limit(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", [(f"z{i}", bytes(4 << 20)) for i in range(4)])
    assert archive.stat().st_size < 200_000
    limits = ExtractLimits(max_total_bytes=10 << 20)
    with pytest.raises(UnsafeArchive, match="expands beyond") as info:
        safe_extract(archive, tmp_path / "dest", limits)
    assert info.value.field == "total_size"
    _assert_nothing_written(tmp_path, tmp_path / "dest")


def test_member_size_and_count_limits(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", [(f"f{i}", b"12345678") for i in range(6)])
    with pytest.raises(UnsafeArchive, match="more than 5 members"):
        safe_extract(archive, tmp_path / "d1", ExtractLimits(max_members=5))
    with pytest.raises(UnsafeArchive, match="larger than 4 bytes"):
        safe_extract(archive, tmp_path / "d2", ExtractLimits(max_member_bytes=4))


def test_not_an_archive_and_existing_dest_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an archive\n" * 100)
    with pytest.raises(UnsafeArchive, match="neither a tar nor a zip") as info:
        safe_extract(junk, tmp_path / "d")
    assert info.value.field == "archive"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    good = _zip(tmp_path / "a.zip", [("a", b"1")])
    with pytest.raises(UnsafeArchive, match="already exists"):
        safe_extract(good, tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_model_folder_round_trip(tmp_path: Path, kind: str) -> None:
    save_external(add_weights_model(), tmp_path / "src", location="weights/w.bin")
    files = ["model.onnx", "weights/w.bin"]
    archive = tmp_path / f"model.{kind}"
    if kind == "tar":
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(tmp_path / "src", arcname=".")
    else:
        _zip(archive, [(f, (tmp_path / "src" / f).read_bytes()) for f in files])
    assert safe_extract(archive, tmp_path / "dest") == files
    sig = inspect_model(tmp_path / "dest" / "model.onnx")
    assert sig.external_data == ("weights/w.bin",)
