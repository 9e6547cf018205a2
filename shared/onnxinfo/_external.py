"""Find every external-data reference of an ONNX model and confine it to the model folder."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx

from modelfleet.onnxinfo._errors import ModelRefused, require_text

_SEPARATORS = re.compile(r"[\\/]")
_EXPECTED_PATH = "a relative path to a regular file inside the model folder"


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        for sparse in [attr.sparse_tensor, *attr.sparse_tensors]:
            yield sparse.values
            yield sparse.indices
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for graph in attr.graphs:
            yield from _graph_tensors(graph)


def all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a model can carry: initializers, attributes, subgraphs, functions, training."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)
    for info in model.training_info:
        yield from _graph_tensors(info.initialization)
        yield from _graph_tensors(info.algorithm)


def external_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    return [t for t in all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]


def check_location_syntax(location: str, tensor: str) -> None:
    """Refuse locations that are empty, absolute or climb out with `..`, without touching disk."""
    field = f"tensor {tensor!r} external_data.location"
    if not location or "\x00" in location:
        raise ModelRefused(
            f"external data location {location!r} is empty or contains NUL",
            field=field,
            expected=_EXPECTED_PATH,
        )
    if (
        location.startswith(("/", "\\"))
        or PureWindowsPath(location).drive
        or PurePosixPath(location).is_absolute()
    ):
        raise ModelRefused(
            f"external data location {location!r} is absolute", field=field, expected=_EXPECTED_PATH
        )
    if ".." in _SEPARATORS.split(location):
        raise ModelRefused(
            f"external data location {location!r} contains '..'",
            field=field,
            expected=_EXPECTED_PATH,
        )


def external_entries(tensor: onnx.TensorProto) -> dict[str, str]:
    """The external_data key/value pairs of a tensor (location, offset, length...)."""
    field = f"tensor {tensor.name!r} external_data"
    return {
        require_text(entry.key, field): require_text(entry.value, field)
        for entry in tensor.external_data
    }


def confine_external_data(model: onnx.ModelProto, folder: Path) -> tuple[str, ...]:
    """Check every external reference resolves to a regular file of `folder` that is large
    enough; returns the distinct locations. Symbolic links may point within the folder only;
    a hard-linked file must have all its links inside the folder."""
    root = folder.resolve(strict=True)
    locations: list[str] = []
    links_inside: Counter[tuple[int, int]] | None = None
    for tensor in external_tensors(model):
        entries = external_entries(tensor)
        location = entries.get("location", "")
        check_location_syntax(location, tensor.name)
        field = f"tensor {tensor.name!r} external_data.location"
        try:
            real = (root / location).resolve(strict=True)
        except FileNotFoundError:
            raise ModelRefused(
                f"external data file {location!r} does not exist in the model folder",
                field=field,
                expected=_EXPECTED_PATH,
            ) from None
        except (RuntimeError, OSError) as exc:
            raise ModelRefused(
                f"external data file {location!r} cannot be resolved ({exc})",
                field=field,
                expected=_EXPECTED_PATH,
            ) from None
        if not real.is_relative_to(root):
            raise ModelRefused(
                f"external data file {location!r} resolves outside the model folder "
                "(through a symbolic link)",
                field=field,
                expected=_EXPECTED_PATH,
            )
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise ModelRefused(
                f"external data file {location!r} is not a regular file",
                field=field,
                expected=_EXPECTED_PATH,
            )
        if info.st_nlink > 1:
            if links_inside is None:
                links_inside = _count_inodes(root)
            if links_inside[(info.st_dev, info.st_ino)] < info.st_nlink:
                raise ModelRefused(
                    f"external data file {location!r} is a hard link shared with a file "
                    "outside the model folder",
                    field=field,
                    expected=_EXPECTED_PATH,
                )
        _check_range(entries, info.st_size, tensor.name, location)
        if location not in locations:
            locations.append(location)
    return tuple(locations)


def _check_range(entries: dict[str, str], file_size: int, tensor: str, location: str) -> None:
    try:
        offset = int(entries.get("offset", "0"))
        length = int(entries["length"]) if "length" in entries else file_size - offset
    except ValueError:
        raise ModelRefused(
            f"external data offset/length of {location!r} are not integers",
            field=f"tensor {tensor!r} external_data.offset",
            expected="non-negative integers",
        ) from None
    if offset < 0 or length < 0 or offset + length > file_size:
        raise ModelRefused(
            f"external data range [{offset}, {offset + length}) lies outside {location!r} "
            f"({file_size} bytes)",
            field=f"tensor {tensor!r} external_data.length",
            expected=f"a range within the file's {file_size} bytes",
        )


def _count_inodes(root: Path) -> Counter[tuple[int, int]]:
    """How many directory entries under `root` name each inode (symlinks not followed)."""
    counts: Counter[tuple[int, int]] = Counter()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            info = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(info.st_mode):
                counts[(info.st_dev, info.st_ino)] += 1
    return counts
