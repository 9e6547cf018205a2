"""Refusals of untrusted model artifacts; each names the field at fault and what was expected."""

from __future__ import annotations


class ArtifactRefused(ValueError):
    """An artifact (model file, archive, manifest) was refused; nothing of it was used."""

    def __init__(self, message: str, *, field: str, expected: str) -> None:
        super().__init__(f"{message} (field {field!r}: expected {expected})")
        self.field = field
        self.expected = expected


class ModelRefused(ArtifactRefused):
    """The file is not a valid, self-contained ONNX model."""


class UnsafeArchive(ArtifactRefused):
    """An archive member would escape the destination, is a link or device, or exceeds a limit."""


class ManifestInvalid(ArtifactRefused):
    """A manifest is malformed, its signature does not verify, or a folder does not match it."""


def require_text(value: object, field: str) -> str:
    """`value` if it is text; protobuf hands out bytes for proto2 strings that are not UTF-8."""
    if type(value) is str:
        return value
    raise ModelRefused(f"{field} {value!r} is not valid UTF-8", field=field, expected="UTF-8 text")
