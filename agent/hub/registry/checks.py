"""What CreateVersion checks before storing anything: the ONNX file, feature names, profile,
tags and names; and the manifest the hub signs for the agents."""

from __future__ import annotations

import asyncio
import base64
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.blobs import BlobStore
from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.agent.hub.registry.artifacts import copy_to_file
from modelfleet.onnxinfo import (
    Manifest,
    ManifestEntry,
    ModelRefused,
    ModelSignature,
    TensorSpec,
    inspect_model,
    sign_manifest,
)
from modelfleet.onnxinfo._signature import MAX_MODEL_BYTES
from modelfleet.profile import ProfileError, ReferenceProfile

# The file name of the model in its manifest: agents store the artifact under this name.
MODEL_FILE = "model.onnx"
MAX_TAGS = 64
MAX_PROFILE_BYTES = 12 << 20
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


async def inspect_artifact(store: BlobStore, sha256: str, size: int) -> ModelSignature:
    """The signature of a stored ONNX artifact; INVALID_ARGUMENT naming why it is refused.

    The blob is decrypted into a private temporary folder of its own, so external-data
    references can only resolve to files that are not there.
    """
    if size > MAX_MODEL_BYTES:
        raise InvalidArgument(
            "artifact_sha256", "an ONNX file of at most 2 GiB", got=f"{size} bytes"
        )
    with tempfile.TemporaryDirectory(prefix="modelfleet-inspect-") as folder:
        path = Path(folder) / MODEL_FILE
        await copy_to_file(store, sha256, path)
        try:
            return await asyncio.to_thread(inspect_model, path)
        except ModelRefused as exc:
            raise InvalidArgument(
                "artifact_sha256", "a valid, self-contained ONNX model", got=str(exc)
            ) from None


def feature_names(names: Sequence[str], signature: ModelSignature) -> tuple[str, ...]:
    """Unique, non-empty names matching the model's inputs: one per input when it has several,
    one per column when its single input is a 2-D table with a fixed width."""
    out = tuple(names)
    for i, name in enumerate(out):
        if not name or len(name) > 256:
            raise InvalidArgument(f"feature_names[{i}]", "1-256 characters", got=repr(name[:64]))
    if len(set(out)) != len(out):
        raise InvalidArgument("feature_names", "unique names", got="a repeated name")
    if not out:
        return out
    inputs = signature.inputs
    if len(inputs) > 1 and len(out) != len(inputs):
        raise InvalidArgument(
            "feature_names", f"{len(inputs)} names, one per model input", got=str(len(out))
        )
    if len(inputs) == 1 and inputs[0].shape is not None and len(inputs[0].shape) == 2:
        width = inputs[0].shape[1]
        if width > 0 and len(out) != width:
            raise InvalidArgument(
                "feature_names",
                f"{width} names, one per column of input {inputs[0].name!r}",
                got=str(len(out)),
            )
    return out


def reference_profile(text: str, names: Sequence[str], signature: ModelSignature) -> str:
    """The profile document re-serialised canonically, or "" when none was sent. Its columns
    are input features and, for prediction drift, model outputs named as the agent names
    live output columns: the output's name, or `<output>_<j>` for each column of a 2-D one."""
    if not text:
        return ""
    if len(text) > MAX_PROFILE_BYTES:
        raise InvalidArgument(
            "reference_profile_json", f"at most {MAX_PROFILE_BYTES} bytes", got=str(len(text))
        )
    try:
        document = orjson.loads(text)
        if not isinstance(document, dict):
            raise ProfileError("profile: expected a JSON object")
        profile = ReferenceProfile.from_dict(document)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument("reference_profile_json", "a JSON document", got=str(exc)) from None
    except ProfileError as exc:
        raise InvalidArgument(
            "reference_profile_json", "a valid reference profile", got=str(exc)
        ) from None
    known = set(names)
    outputs = [o for o in signature.outputs if o.is_tensor]
    for i, feature in enumerate(profile.features):
        if known and feature.name not in known and not _is_output_column(feature.name, outputs):
            raise InvalidArgument(
                f"reference_profile_json.features[{i}].name",
                "one of the version's feature_names or a model output column ("
                + ", ".join(_output_columns_hint(outputs))
                + ")",
                got=repr(feature.name),
            )
    return orjson.dumps(profile.to_dict()).decode()


def _width(spec: TensorSpec) -> int | None:
    """Columns per row of an output: 1 for a vector, None when a dimension is unknown."""
    if spec.shape is None:
        return None
    width = 1
    for dim in spec.shape[1:]:
        if dim < 0:
            return None
        width *= dim
    return width


def _is_output_column(name: str, outputs: Sequence[TensorSpec]) -> bool:
    for spec in outputs:
        if name == spec.name:
            return True
        prefix, _, index = name.rpartition("_")
        if prefix == spec.name and index.isdigit():
            width = _width(spec)
            if width is None or int(index) < width:
                return True
    return False


def _output_columns_hint(outputs: Sequence[TensorSpec]) -> list[str]:
    hints = []
    for spec in outputs:
        width = _width(spec)
        hints.append(spec.name if width == 1 else f"{spec.name}_<j>")
    return hints


def tags(field: str, values: Mapping[str, str]) -> dict[str, str]:
    if len(values) > MAX_TAGS:
        raise InvalidArgument(field, f"at most {MAX_TAGS} tags", got=str(len(values)))
    for key, value in values.items():
        if not 1 <= len(key) <= 128:
            raise InvalidArgument(field, "keys of 1-128 characters", got=repr(key[:64]))
        if len(value) > 1024:
            raise InvalidArgument(field, "values of at most 1024 characters", got=f"{key!r}")
    return dict(values)


def alias(field: str, value: str) -> str:
    validation.name(field, value)
    if value.isdigit():
        raise InvalidArgument(field, "a name that is not a version number", got=repr(value))
    return value


def run_id(field: str, value: str) -> str:
    if value and not _RUN_ID.fullmatch(value):
        raise InvalidArgument(field, "a run id (1-64 letters, digits, '-', '_' or '.')")
    return value


def signature_document(signature: ModelSignature, names: Sequence[str]) -> dict[str, Any]:
    """The stored form of a signature (the `Signature` message's fields)."""

    def spec(t: Any) -> dict[str, Any]:
        return {"name": t.name, "datatype": t.datatype, "shape": list(t.shape or ())}

    return {
        "inputs": [spec(t) for t in signature.inputs],
        "outputs": [spec(t) for t in signature.outputs],
        "feature_names": list(names),
        "ir_version": signature.ir_version,
        "producer": " ".join(p for p in (signature.producer_name, signature.producer_version) if p),
        "opset": dict(signature.opset_imports),
    }


def model_manifest(sha256: str, size: int) -> Manifest:
    """What an agent verifies before loading a version: its one file, by digest and size."""
    return Manifest((ManifestEntry(MODEL_FILE, sha256, size),))


def manifest_signature(sha256: str, size: int, key: Ed25519PrivateKey) -> str:
    return base64.b64encode(sign_manifest(model_manifest(sha256, size), key)).decode()
