"""Signed manifests: canonical form, Ed25519 sign/verify, and tamper detection."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnxbuild import add_weights_model, save_external

from modelfleet.onnxinfo import (
    Manifest,
    ManifestInvalid,
    sign_manifest,
    verify_manifest,
    verify_model_folder,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    save_external(add_weights_model(), tmp_path / "m", location="weights/w.bin")
    (tmp_path / "m" / "modelfleet.json").write_text('{"feature_names": ["a"]}')
    return tmp_path / "m"


def test_manifest_lists_every_file_canonically(folder: Path) -> None:
    manifest = Manifest.from_folder(folder)
    assert [e.path for e in manifest.files] == ["model.onnx", "modelfleet.json", "weights/w.bin"]
    assert manifest.files[2].size == 4096 * 4
    data = manifest.to_json()
    assert b" " not in data and data == Manifest.from_json(data).to_json()
    assert Manifest.from_json(data) == manifest


def test_sign_and_verify(folder: Path) -> None:
    key = Ed25519PrivateKey.generate()
    manifest = Manifest.from_folder(folder)
    signature = sign_manifest(manifest, key)
    assert verify_model_folder(folder, manifest.to_json(), signature, key.public_key()) == manifest


def test_tampered_manifest_or_wrong_key_refused(folder: Path) -> None:
    key = Ed25519PrivateKey.generate()
    manifest = Manifest.from_folder(folder)
    data, signature = manifest.to_json(), sign_manifest(manifest, key)
    doc = orjson.loads(data)
    doc["files"][0]["sha256"] = "0" * 64
    forged = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    with pytest.raises(ManifestInvalid, match="signature does not verify") as info:
        verify_manifest(forged, signature, key.public_key())
    assert info.value.field == "signature"
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ManifestInvalid, match="signature does not verify"):
        verify_manifest(data, signature, other)
    with pytest.raises(ManifestInvalid):
        verify_manifest(data, signature[:-1] + bytes([signature[-1] ^ 1]), key.public_key())


def test_tampered_files_refused(folder: Path) -> None:
    key = Ed25519PrivateKey.generate()
    manifest = Manifest.from_folder(folder)
    data, signature = manifest.to_json(), sign_manifest(manifest, key)
    weights = folder / "weights" / "w.bin"
    original = weights.read_bytes()

    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    with pytest.raises(ManifestInvalid, match="has sha256") as info:
        verify_model_folder(folder, data, signature, key.public_key())
    assert info.value.field == "files[weights/w.bin].sha256"

    weights.write_bytes(original + b"x")
    with pytest.raises(ManifestInvalid, match="bytes") as info:
        verify_model_folder(folder, data, signature, key.public_key())
    assert info.value.field == "files[weights/w.bin].size"

    weights.write_bytes(original)
    (folder / "extra.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ManifestInvalid, match=r"unexpected \['extra\.pkl'\]"):
        verify_model_folder(folder, data, signature, key.public_key())
    (folder / "extra.pkl").unlink()
    (folder / "modelfleet.json").unlink()
    with pytest.raises(ManifestInvalid, match=r"missing \['modelfleet\.json'\]"):
        verify_model_folder(folder, data, signature, key.public_key())


def test_symlinks_refused_in_manifested_folder(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", folder / "link")
    with pytest.raises(ManifestInvalid, match="symbolic link"):
        Manifest.from_folder(folder)


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../b", "./a", "a//b", "a\\b", ""])
def test_manifest_with_unsafe_paths_refused(path: str) -> None:
    doc = {"format": 1, "files": [{"path": path, "sha256": "a" * 64, "size": 1}]}
    with pytest.raises(ManifestInvalid, match=r"path|empty"):
        Manifest.from_json(orjson.dumps(doc))


def test_malformed_manifest_refused() -> None:
    for data in (b"{", b'{"format": 2, "files": []}', b'{"format": 1, "files": [{"path": "a"}]}'):
        with pytest.raises(ManifestInvalid, match="malformed"):
            Manifest.from_json(data)
    doc = {"format": 1, "files": [{"path": "a", "sha256": "XYZ", "size": 1}]}
    with pytest.raises(ManifestInvalid, match="digest"):
        Manifest.from_json(orjson.dumps(doc))
