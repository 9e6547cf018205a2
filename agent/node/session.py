"""ONNX Runtime sessions: loading, the model signature, warm-up and the run call."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from modelfleet.agent.node.errors import InvalidInput, ModelFailed
from modelfleet.oip import DATATYPES, ORT_TYPES, TensorSpec

log = logging.getLogger(__name__)
_MAX_ERROR = 300


@dataclass(frozen=True, slots=True)
class Signature:
    """Inputs and outputs of a model as OIP tensor specs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def batchable(self) -> bool:
        """Requests can be stacked along the first dimension (every tensor has it variable)."""
        return all(spec.variable_first_dim for spec in (*self.inputs, *self.outputs))


def _spec(arg: Any, role: str) -> TensorSpec:
    datatype = ORT_TYPES.get(arg.type)
    if datatype is None:
        raise ValueError(f"{role} '{arg.name}' has type {arg.type}, which OIP cannot carry")
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    return TensorSpec(arg.name, datatype, shape)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxModel:
    """One loaded model file; `run` is thread-safe and releases the GIL inside ORT."""

    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        # One thread per run: parallelism comes from the agent's shared worker pool.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.sha256 = file_sha256(path)
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.signature = Signature(
            tuple(_spec(a, "input") for a in self._session.get_inputs()),
            tuple(_spec(a, "output") for a in self._session.get_outputs()),
        )
        self._string_inputs = frozenset(
            s.name for s in self.signature.inputs if s.datatype == "BYTES"
        )
        self._output_names = [s.name for s in self.signature.outputs]

    def prepare(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Convert wire tensors to what ORT accepts (BYTES -> str); call before `run`."""
        for name in self._string_inputs & inputs.keys():
            inputs[name] = _as_strings(name, inputs[name])
        return inputs

    def run(self, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run the model on prepared inputs; returns every output in signature order."""
        try:
            outputs: list[np.ndarray] = self._session.run(self._output_names, feed)
        except Exception as exc:  # ORT raises its own pybind exception types
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            message = lines[0][:_MAX_ERROR]
            raise ModelFailed(f"model failed on this input: {message}") from exc
        return outputs

    def warm_up(self) -> None:
        """Run once on zeros so the first real request does not pay allocation costs."""
        try:
            self.run(self.prepare({s.name: dummy_input(s) for s in self.signature.inputs}))
        except ModelFailed as exc:
            log.warning("warm-up failed (the model may still serve real inputs): %s", exc)


def dummy_input(spec: TensorSpec, rows: int = 1) -> np.ndarray:
    """A zero (or empty-string) tensor fitting `spec`, variable dimensions set to `rows`."""
    shape = tuple(rows if d == -1 else d for d in spec.shape)
    dt = DATATYPES[spec.datatype]
    if dt.is_bytes:
        array = np.empty(shape, dtype=object)
        array.fill(b"")
        return array
    return np.zeros(shape, dtype=dt.dtype)


def _as_strings(name: str, array: np.ndarray) -> np.ndarray:
    """ONNX strings are UTF-8 text; ORT's binding wants str, the wire gives bytes."""
    flat: Sequence[object] = array.ravel().tolist()
    out = np.empty(len(flat), dtype=object)
    try:
        out[:] = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"input '{name}': BYTES element is not UTF-8 text ({exc})") from None
    return out.reshape(array.shape)
