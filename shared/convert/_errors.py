"""Exceptions raised while converting a model to ONNX or verifying the converted graph."""

from __future__ import annotations

from dataclasses import dataclass


class ConversionError(Exception):
    """Base of every error `modelfleet.convert` raises."""


class UnsupportedModelError(ConversionError, TypeError):
    """The model's type has no converter here."""


class InvalidSampleInput(ConversionError, ValueError):
    """`sample_input` (or `feature_names`) does not fit the model: wrong shape, dtype or names."""


class MissingDependencyError(ConversionError, ImportError):
    """A package the conversion needs is not installed; the message names the extra to add."""

    def __init__(self, what: str, package: str, extra: str) -> None:
        super().__init__(
            f"converting {what} needs the '{package}' package, which is not installed: "
            f"pip install 'modelfleet[{extra}]'"
        )
        self.package = package
        self.extra = extra


@dataclass(frozen=True)
class OutputCheck:
    """How far one ONNX output is from the native model's prediction on the sample rows.

    `max_abs_diff`/`max_rel_diff` are None for non-numeric outputs (string labels).
    """

    output: str
    exact: bool
    rows: int
    mismatched_rows: int
    max_abs_diff: float | None
    max_rel_diff: float | None

    def describe(self) -> str:
        diffs = (
            ""
            if self.max_abs_diff is None
            else f", max abs diff {self.max_abs_diff:.3g}, max rel diff {self.max_rel_diff:.3g}"
        )
        return f"{self.mismatched_rows} of {self.rows} rows differ{diffs}"


class ConversionMismatch(ConversionError):
    """The ONNX graph's outputs differ from the native model's beyond the tolerance."""

    def __init__(self, check: OutputCheck, *, rtol: float, atol: float, detail: str = "") -> None:
        rule = "labels must match exactly" if check.exact else f"rtol={rtol:g}, atol={atol:g}"
        message = (
            f"ONNX output '{check.output}' does not match the native model ({rule}): "
            f"{detail or check.describe()}"
        )
        super().__init__(message)
        self.check = check
        self.output = check.output
        self.max_abs_diff = check.max_abs_diff
        self.max_rel_diff = check.max_rel_diff
        self.mismatched_rows = check.mismatched_rows
        self.rows = check.rows
        self.rtol = rtol
        self.atol = atol
