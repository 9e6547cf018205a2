"""Inputs the fuzzers found that escaped with the wrong exception; each is refused cleanly now."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import onnx
import pytest

from modelfleet.onnxinfo import ModelRefused, UnsafeArchive, inspect_model, safe_extract
from tests.security.onnxgraphs import external, identity


def _not_utf8(model: onnx.ModelProto, marker: bytes) -> bytes:
    """The serialized model with `marker` (a 1-byte-longer placeholder) made invalid UTF-8."""
    data = model.SerializeToString()
    assert data.count(marker) == 1
    return data.replace(marker, marker[:-1] + b"\xff")


def test_external_location_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    # Was: TypeError in check_location_syntax (protobuf returns bytes for such proto2 strings).
    data = _not_utf8(external("weights-Z.bin"), b"weights-Z")
    for folder in (tmp_path, None):
        with pytest.raises(ModelRefused) as refused:
            inspect_model(data, folder=folder)
        assert refused.value.expected == "UTF-8 text"
        assert "external_data" in refused.value.field


def test_unknown_element_type_is_refused() -> None:
    # Was: ValueError from TensorProto.DataType.Name (the checker accepts any integer).
    with pytest.raises(ModelRefused) as refused:
        inspect_model(identity(elem=999).SerializeToString())
    assert refused.value.field == "elem_type"


def test_operator_name_that_is_not_utf8_is_refused() -> None:
    # Was: UnicodeDecodeError out of onnx.checker.check_model.
    with pytest.raises(ModelRefused, match="not valid UTF-8"):
        inspect_model(_not_utf8(identity(op="IdentityZ"), b"IdentityZ"))


def test_graph_input_name_that_is_not_utf8_is_refused() -> None:
    model = identity()
    model.graph.input[0].name = "xZ"
    model.graph.node[0].input[0] = "xZ"
    data = model.SerializeToString().replace(b"xZ", b"x\xff")
    with pytest.raises(ModelRefused, match="not valid UTF-8"):
        inspect_model(data)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _extract_refused(tmp_path: Path, data: bytes) -> UnsafeArchive:
    archive = tmp_path / "in.zip"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchive) as refused:
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zip"], "something was left behind"
    return refused.value


def test_zip_member_with_empty_name_is_refused(tmp_path: Path) -> None:
    # Was: IndexError in ZipInfo.is_dir() (zipfile cuts names at NUL, leaving "").
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("\x00model.onnx"), b"x")
    data = buffer.getvalue()
    assert "empty" in str(_extract_refused(tmp_path, data))


def test_zip_with_corrupt_deflate_stream_is_refused(tmp_path: Path) -> None:
    # Was: zlib.error from the member read.
    payload = bytes(range(256)) * 64
    data = bytearray(_zip({"model.onnx": payload}))
    start = 30 + len("model.onnx")  # the compressed bytes follow the local file header
    data[start : start + 64] = b"\xff" * 64
    assert "damaged" in str(_extract_refused(tmp_path, bytes(data)))


def test_zip_with_negative_member_offset_is_refused(tmp_path: Path) -> None:
    # Was: OSError EINVAL from a seek before the start of the file (central directory
    # offset larger than where it really is makes zipfile compute negative offsets).
    data = bytearray(_zip({"model.onnx": b"abc"}))
    end = data.rindex(b"PK\x05\x06")
    (offset,) = struct.unpack_from("<I", data, end + 16)
    struct.pack_into("<I", data, end + 16, offset + 1000)
    assert "cannot be read" in str(_extract_refused(tmp_path, bytes(data)))


def test_model_the_checker_cannot_reparse_is_refused() -> None:
    # Was: ValueError ("Unable to parse proto") out of onnx.checker.check_model, which
    # re-parses in C++ bytes that protobuf's Python parser accepted. Found by the fuzzer
    # from the scikit-learn seed.
    data = (Path(__file__).parent / "data" / "checker_cannot_reparse.onnx").read_bytes()
    with pytest.raises(ModelRefused) as refused:
        inspect_model(data)
    assert refused.value.field in ("file", "graph")


def test_tar_member_name_that_is_not_utf8(tmp_path: Path) -> None:
    # Was: UnicodeEncodeError while measuring the name (tarfile decodes such names with
    # surrogate escapes). On POSIX the bytes are a valid file name and are kept as they are.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo(os.fsdecode(b"\x84\xda"))
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
    source = tmp_path / "in.tar"
    source.write_bytes(buffer.getvalue())
    assert safe_extract(source, tmp_path / "out") == [os.fsdecode(b"\x84\xda")]
    assert os.listdir(os.fsencode(tmp_path / "out")) == [b"\x84\xda"]


def test_zip_name_flagged_utf8_that_is_not_is_refused(tmp_path: Path) -> None:
    # Was: UnicodeDecodeError out of zipfile.ZipFile() (general-purpose flag 0x800 set).
    data = _zip({"m\u00e9.onnx": b"x"})
    assert data.count(b"m\xc3\xa9.onnx") == 2  # local header and central directory
    assert "damaged" in str(_extract_refused(tmp_path, data.replace(b"m\xc3\xa9", b"m\xd2]")))
