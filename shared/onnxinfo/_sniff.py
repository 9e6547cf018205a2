"""Recognise what a supposed ONNX file really is before protobuf parsing gives it a meaning."""

from __future__ import annotations

import io
import pickletools
import zipfile

import onnx
from google.protobuf.descriptor import FieldDescriptor

from modelfleet.onnxinfo._errors import ModelRefused

_EXPECTED = "an ONNX ModelProto (protobuf)"
# Other formats model files arrive in, identified by their leading bytes.
_MAGICS = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (e.g. a Keras .h5 model)"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x1f\x8b", "a gzip stream"),
    (b"BZh", "a bzip2 stream"),
    (b"\xfd7zXZ\x00", "an xz stream"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"GGUF", "a GGUF file"),
)
_PICKLE_PROTOCOLS = range(2, 6)
_PICKLE_PROBE = 1 << 16


def _wire_type(field_type: int) -> int:
    if field_type in (
        FieldDescriptor.TYPE_MESSAGE,
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_BYTES,
    ):
        return 2
    if field_type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_FIXED32):
        return 5
    if field_type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FIXED64):
        return 1
    return 0


_MODEL_TAGS = {(f.number, _wire_type(f.type)) for f in onnx.ModelProto.DESCRIPTOR.fields}


def _looks_like_pickle(data: bytes) -> bool:
    """True when the bytes decode as pickle opcodes (protocols 0-1 have no header).

    pickletools only parses opcodes, it never executes anything.
    """
    try:
        count = 0
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(data[:_PICKLE_PROBE])):
            count += 1
            if opcode.name == "STOP":
                return count > 1
    except (ValueError, UnicodeDecodeError, OverflowError):
        return False
    # Ran out of probe window without an invalid opcode: a large protocol-0/1 pickle.
    return count > 16


def _first_tag(data: bytes) -> tuple[int, int] | None:
    value, shift = 0, 0
    for byte in data[:5]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value >> 3, value & 7
    return None


def refuse_foreign_formats(data: bytes) -> None:
    """Raise ModelRefused naming the format if `data` is clearly not an ONNX protobuf."""
    if not data:
        raise ModelRefused("the model file is empty", field="file", expected=_EXPECTED)
    if data[0] == 0x80 and len(data) > 1 and data[1] in _PICKLE_PROTOCOLS:
        raise ModelRefused(
            f"the model file is a Python pickle (protocol {data[1]}); pickles are never loaded",
            field="file",
            expected=_EXPECTED,
        )
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise ModelRefused(_describe_zip(data), field="file", expected=_EXPECTED)
    for magic, what in _MAGICS:
        if data.startswith(magic):
            raise ModelRefused(f"the model file is {what}", field="file", expected=_EXPECTED)
    if _looks_like_pickle(data):
        raise ModelRefused(
            "the model file is a Python pickle (protocol 0/1); pickles are never loaded",
            field="file",
            expected=_EXPECTED,
        )
    tag = _first_tag(data)
    if tag not in _MODEL_TAGS:
        raise ModelRefused(
            f"the model file does not start with a ModelProto field (first bytes {data[:4].hex()})",
            field="file",
            expected=_EXPECTED,
        )


def _describe_zip(data: bytes) -> str:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return "the model file is a (damaged) zip archive"
    if any(name.endswith(".pkl") for name in names):
        return (
            "the model file is a PyTorch-style zip checkpoint containing a pickle "
            f"({next(n for n in names if n.endswith('.pkl'))}); pickles are never loaded"
        )
    return "the model file is a zip archive"
