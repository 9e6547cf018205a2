"""Edits every converted graph gets: fixed tensor names, a dynamic batch axis, metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

FEATURE_NAMES_KEY = "modelfleet.feature_names"
INPUT_NAME = "input"
BATCH_AXIS = "batch"


def rename_values(proto: onnx.ModelProto, renames: Mapping[str, str]) -> None:
    """Rename graph inputs/outputs and every reference to them, subgraphs included."""
    renames = {old: new for old, new in renames.items() if old != new}
    if not renames:
        return
    taken = _all_names(proto.graph) - set(renames)
    clash = sorted(set(renames.values()) & taken)
    if clash:
        raise ValueError(f"cannot rename graph values to {clash}: names already used")
    _rename_in_graph(proto.graph, renames)


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    names.update(t.name for t in graph.initializer)
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _rename_in_graph(graph: onnx.GraphProto, renames: Mapping[str, str]) -> None:
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
        for attribute in node.attribute:
            # Subgraphs (If/Loop/Scan bodies) may read outer-scope values by name.
            if attribute.type == onnx.AttributeProto.GRAPH:
                _rename_in_graph(attribute.g, renames)
            for subgraph in attribute.graphs:
                _rename_in_graph(subgraph, renames)


def name_outputs(proto: onnx.ModelProto, names: Sequence[str]) -> None:
    """Give the graph outputs the contract's names, in order; the count must match."""
    current = [o.name for o in proto.graph.output]
    if len(current) != len(names):
        raise ValueError(f"expected {len(names)} outputs {list(names)}, the graph has {current}")
    rename_values(proto, dict(zip(current, names, strict=True)))


def make_batch_dynamic(proto: onnx.ModelProto) -> None:
    """Declare axis 0 of the input and every output as the symbolic `batch` dimension.

    Some converters declare a fixed [1] for the label output although it has one row
    per input row; ONNX Runtime then warns on every batch.
    """
    for value in [*proto.graph.input, *proto.graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and len(tensor.shape.dim) > 0:
            tensor.shape.dim[0].Clear()
            tensor.shape.dim[0].dim_param = BATCH_AXIS


def set_metadata(proto: onnx.ModelProto, key: str, value: str) -> None:
    """Set one metadata_props entry, replacing an existing one with the same key."""
    props = {p.key: p.value for p in proto.metadata_props}
    props[key] = value
    helper.set_model_props(proto, props)


def set_feature_names(proto: onnx.ModelProto, names: Sequence[str]) -> None:
    set_metadata(proto, FEATURE_NAMES_KEY, json.dumps(list(names)))


def read_feature_names(proto: onnx.ModelProto) -> tuple[str, ...] | None:
    for prop in proto.metadata_props:
        if prop.key == FEATURE_NAMES_KEY:
            names = json.loads(prop.value)
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return tuple(names)
    return None


def opsets(proto: onnx.ModelProto) -> dict[str, int]:
    """Imported opset per domain; the default domain is reported as ''."""
    found: dict[str, int] = {}
    for entry in proto.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        found[domain] = max(found.get(domain, 0), int(entry.version))
    return found


def input_signature(
    proto: onnx.ModelProto, name: str
) -> tuple[np.dtype[Any], tuple[int | None, ...]]:
    """numpy dtype and shape (None for symbolic axes) of graph input `name`."""
    value = next(v for v in proto.graph.input if v.name == name)
    tensor = value.type.tensor_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    return dtype, shape
