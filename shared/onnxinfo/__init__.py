"""ONNX model inspection and artifact safety: signatures, safe extraction, signed manifests."""

from modelfleet.onnxinfo._archive import ExtractLimits, safe_extract
from modelfleet.onnxinfo._errors import (
    ArtifactRefused,
    ManifestInvalid,
    ModelRefused,
    UnsafeArchive,
)
from modelfleet.onnxinfo._manifest import (
    Manifest,
    ManifestEntry,
    sign_manifest,
    verify_manifest,
    verify_model_folder,
)
from modelfleet.onnxinfo._signature import ModelSignature, TensorSpec, inspect_model

__all__ = [
    "ArtifactRefused",
    "ExtractLimits",
    "Manifest",
    "ManifestEntry",
    "ManifestInvalid",
    "ModelRefused",
    "ModelSignature",
    "TensorSpec",
    "UnsafeArchive",
    "inspect_model",
    "safe_extract",
    "sign_manifest",
    "verify_manifest",
    "verify_model_folder",
]
