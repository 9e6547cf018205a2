"""The friendly per-model API: named-feature instances in, one prediction per row out."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelfleet.agent.node.models import ModelVersion
from modelfleet.oip import DATATYPES, DecodedRequest, TensorError, TensorSpec, decode_json_data


def decode_predict(mv: ModelVersion, body: bytes) -> DecodedRequest:
    """Turn {"instances": [...]} or {"inputs": ...} into tensors for `mv`'s signature."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TensorError(f"malformed JSON body: {exc}") from None
    if type(obj) is not dict or ("instances" in obj) == ("inputs" in obj):
        raise TensorError("body must be a JSON object with either 'instances' or 'inputs'")
    assert mv.model is not None  # admitted versions are loaded
    specs = mv.model.signature.inputs
    if "instances" in obj:
        instances = obj["instances"]
        if type(instances) is not list or not instances:
            raise TensorError("'instances' must be a non-empty list of objects")
        names = mv.config.feature_names
        if names is not None:
            return DecodedRequest("", {specs[0].name: _feature_rows(specs[0], names, instances)})
        columns = _columns(instances, [s.name for s in specs])
        return DecodedRequest("", {s.name: _tensor(s, columns[s.name]) for s in specs})
    inputs = obj["inputs"]
    if type(inputs) is list:
        if len(specs) != 1:
            listed = ", ".join(s.name for s in specs)
            raise TensorError(
                f"'inputs' as a list needs a one-input model; pass an object ({listed})"
            )
        return DecodedRequest("", {specs[0].name: _tensor(specs[0], inputs)})
    if type(inputs) is not dict:
        raise TensorError("'inputs' must be a list of rows or an object of input name -> rows")
    unknown = [k for k in inputs if k not in {s.name for s in specs}]
    if unknown:
        raise TensorError(f"unexpected input {unknown[0]!r}")
    return DecodedRequest(
        "", {s.name: _tensor(s, inputs[s.name]) for s in specs if s.name in inputs}
    )


def _feature_rows(spec: TensorSpec, names: tuple[str, ...], instances: list[Any]) -> np.ndarray:
    rows: list[list[Any]] = []
    for index, instance in enumerate(instances):
        if type(instance) is not dict:
            raise TensorError(f"instances[{index}] must be an object of feature -> value")
        try:
            rows.append([instance[name] for name in names])
        except KeyError as exc:
            raise TensorError(f"instances[{index}]: missing feature {exc.args[0]!r}") from None
        if len(instance) != len(names):
            extra = sorted(set(instance) - set(names))
            raise TensorError(f"instances[{index}]: unknown feature {extra[0]!r}")
    label = f"input '{spec.name}' (features {', '.join(names)})"
    return decode_json_data(label, DATATYPES[spec.datatype], (len(rows), len(names)), rows)


def _columns(instances: list[Any], names: list[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for index, instance in enumerate(instances):
        if type(instance) is not dict:
            raise TensorError(f"instances[{index}] must be an object of input name -> value")
        for key in instance:
            if key not in columns:
                raise TensorError(f"instances[{index}]: unexpected input {key!r}")
        for name in names:
            if name not in instance:
                raise TensorError(f"instances[{index}]: missing input {name!r}")
            columns[name].append(instance[name])
    return columns


def _tensor(spec: TensorSpec, values: Any) -> np.ndarray:
    label = f"input '{spec.name}'"
    try:
        shape = np.shape(values)
    except ValueError:
        raise TensorError(f"{label}: rows are not a rectangular array") from None
    return decode_json_data(label, DATATYPES[spec.datatype], shape, values)


def predictions(outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One {output: value} object per row of the request."""
    if not outputs:
        return []
    rows = max(a.shape[0] if a.ndim else 1 for a in outputs.values())
    columns: dict[str, list[Any]] = {}
    for name, array in outputs.items():
        values = array.tolist() if array.dtype.kind != "O" else _texts(array)
        per_row = array.ndim > 0 and array.shape[0] == rows
        columns[name] = values if per_row else [values] * rows
    return [{name: column[i] for name, column in columns.items()} for i in range(rows)]


def _texts(array: np.ndarray) -> Any:
    return np.vectorize(
        lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v), otypes=[object]
    )(array).tolist()
