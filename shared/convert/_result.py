"""`ConvertedModel`: the ONNX bytes with their signature, and the check against the native model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelfleet.convert._errors import (
    ConversionMismatch,
    InvalidSampleInput,
    MissingDependencyError,
    OutputCheck,
)
from modelfleet.convert._sample import cast_for_input, to_numpy

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5


@dataclass(frozen=True)
class Expected:
    """The native model's value for one ONNX output; `exact` for class labels."""

    output: str
    values: NDArray[Any]
    exact: bool = False


# Called with the caller's sample (for the native model) and the array fed to ONNX Runtime.
Reference = Callable[[object, NDArray[Any]], list[Expected]]


@dataclass(frozen=True)
class ConvertedModel:
    """A converted (or checked) ONNX model and what a registry needs to know about it.

    `framework` is "scikit-learn", "xgboost", "lightgbm", "pytorch" or "onnx" (a ready
    model); `converter` names the tool and version, for PyTorch also the exporter
    ("torch.onnx dynamo" or "torch.onnx torchscript"). `input_shape` has None for the
    batch axis. `opset` is the ai.onnx opset, None when the graph imports only other
    domains (XGBoost trees use ai.onnx.ml alone); `opsets` has every domain.
    """

    onnx_bytes: bytes
    name: str
    framework: str
    framework_version: str
    converter: str
    input_names: tuple[str, ...]
    input_dtype: np.dtype[Any]
    input_shape: tuple[int | None, ...]
    output_names: tuple[str, ...]
    feature_names: tuple[str, ...] | None
    opset: int | None
    opsets: Mapping[str, int]
    _reference: Reference | None = field(default=None, repr=False, compare=False)

    def verify(
        self, sample_input: object, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL
    ) -> tuple[OutputCheck, ...]:
        """Run the ONNX graph on `sample_input` and compare with the native model.

        Labels must match exactly; other outputs within `|onnx - native| <= atol +
        rtol * |native|`. Raises `ConversionMismatch` naming the output and how far it
        is off. A ready ONNX file has no native model: it is only run, and no checks come
        back. A multi-input file takes a mapping of input name to array.
        """
        feeds = self._feeds(sample_input)
        results = dict(zip(self.output_names, self._run(feeds), strict=True))
        if self._reference is None:
            return ()
        checks = []
        for expected in self._reference(sample_input, feeds[self.input_names[0]]):
            check = compare(expected, results[expected.output], rtol=rtol, atol=atol)
            if check.mismatched_rows:
                raise ConversionMismatch(check, rtol=rtol, atol=atol)
            checks.append(check)
        return tuple(checks)

    def _feeds(self, sample_input: object) -> dict[str, NDArray[Any]]:
        if isinstance(sample_input, Mapping):
            missing = sorted(set(self.input_names) - set(sample_input))
            if missing or len(sample_input) != len(self.input_names):
                raise InvalidSampleInput(
                    f"sample_input must map exactly the model inputs {list(self.input_names)}; "
                    f"got {sorted(map(str, sample_input))}"
                )
            return {name: to_numpy(sample_input[name])[0] for name in self.input_names}
        if len(self.input_names) != 1:
            raise InvalidSampleInput(
                f"the model has inputs {list(self.input_names)}; pass sample_input as a "
                "mapping of input name to array"
            )
        array = cast_for_input(sample_input, dtype=self.input_dtype, shape=self.input_shape)
        return {self.input_names[0]: array}

    def _run(self, feeds: Mapping[str, NDArray[Any]]) -> list[NDArray[Any]]:
        try:
            import onnxruntime
        except ImportError as exc:
            raise MissingDependencyError("verifying ONNX models", "onnxruntime", "ml") from exc
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: shape-inference warnings are noise here
        options.intra_op_num_threads = 1  # a sample is small; spinning thread pools cost more
        session = onnxruntime.InferenceSession(
            self.onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
        try:
            outputs: list[NDArray[Any]] = session.run(list(self.output_names), dict(feeds))
        except Exception as exc:  # ORT raises its own untyped Fail/InvalidArgument errors
            raise InvalidSampleInput(f"ONNX Runtime could not run the sample_input: {exc}") from exc
        return outputs


def compare(expected: Expected, got: NDArray[Any], *, rtol: float, atol: float) -> OutputCheck:
    """Row-wise comparison of one ONNX output with the native value."""
    want = np.asarray(expected.values)
    rows = int(want.shape[0]) if want.ndim else 1
    if got.size != want.size:
        check = OutputCheck(expected.output, expected.exact, rows, rows, None, None)
        raise ConversionMismatch(
            check,
            rtol=rtol,
            atol=atol,
            detail=f"ONNX gave shape {got.shape}, the native model {want.shape}",
        )
    got = np.asarray(got).reshape(want.shape)
    numeric = want.dtype.kind in "biuf" and got.dtype.kind in "biuf"
    abs_diff = rel_diff = None
    if numeric:
        g, w = got.astype(np.float64), want.astype(np.float64)
        both_nan = np.isnan(g) & np.isnan(w)
        diff = np.where(both_nan, 0.0, np.abs(g - w))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = diff / np.maximum(np.abs(w), np.finfo(np.float64).tiny)
        rel = np.where(diff == 0, 0.0, rel)
        abs_diff = float(diff.max(initial=0.0))
        rel_diff = float(np.nan_to_num(rel, nan=np.inf).max(initial=0.0))
        bad = diff != 0 if expected.exact else diff > atol + rtol * np.abs(w)
    else:
        bad = got.astype(str) != want.astype(str)
    bad_rows = int(np.asarray(bad).reshape(rows, -1).any(axis=1).sum())
    return OutputCheck(expected.output, expected.exact, rows, bad_rows, abs_diff, rel_diff)
