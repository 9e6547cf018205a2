"""Fuzz the ONNX signature reader: bytes -> inspect_model; only ModelRefused may escape.

Byte 0 odd: the rest is inspected against a model folder that holds a real external-data
file, a hard link to it and a symbolic link leading out of the folder (every location
accepted must then resolve inside the folder); byte 0 even: the rest is inspected alone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import atheris
from _harness import fuzz

with atheris.instrument_imports(include=["modelfleet.onnxinfo"]):
    from modelfleet.onnxinfo import ModelRefused, ModelSignature, inspect_model

from _models import EXTERNAL_FILE, write_external_data

_ROOT = Path(tempfile.mkdtemp(prefix="fuzz-onnx-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
FOLDER = _ROOT / "model"
FOLDER.mkdir()
write_external_data(FOLDER)
(_ROOT / "secret.bin").write_bytes(b"\0" * 64)
os.symlink(_ROOT / "secret.bin", FOLDER / "outside.bin")
(FOLDER / "sub").mkdir()
os.link(FOLDER / EXTERNAL_FILE, FOLDER / "sub" / "hard.bin")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    folder = FOLDER if data[0] & 1 else None
    try:
        signature = inspect_model(data[1:], folder=folder)
    except ModelRefused:
        return
    assert isinstance(signature, ModelSignature)
    assert all(isinstance(spec.name, str) for spec in (*signature.inputs, *signature.outputs))
    root = FOLDER.resolve()
    for location in signature.external_data:
        assert folder is not None, "external data accepted without a folder"
        assert (root / location).resolve().is_relative_to(root), location


if __name__ == "__main__":
    fuzz(test_one_input)
