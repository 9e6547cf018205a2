"""PyTorch nn.Module -> ONNX with torch.onnx.export (dynamo exporter, TorchScript fallback)."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelfleet.convert._conversion import Conversion
from modelfleet.convert._errors import ConversionError, InvalidSampleInput
from modelfleet.convert._graph import BATCH_AXIS, INPUT_NAME
from modelfleet.convert._result import Expected, Reference
from modelfleet.convert._sample import FLOAT32, to_numpy

log = logging.getLogger(__name__)

DYNAMO = "dynamo"
TORCHSCRIPT = "torchscript"


def sample_array(module: Any, sample_input: object) -> NDArray[Any]:
    """The sample in the module's parameter dtype (float32 for a parameter-free module)."""
    array, _ = to_numpy(sample_input)
    if array.ndim == 0 or array.shape[0] == 0:
        raise InvalidSampleInput(
            f"sample_input has shape {array.shape}; expected a batch [rows, ...] with at "
            "least one row"
        )
    dtype = next((p.dtype for p in module.parameters() if p.dtype.is_floating_point), None)
    numpy_dtype = FLOAT32 if dtype is None else np.dtype(str(dtype).removeprefix("torch."))
    return np.ascontiguousarray(array, dtype=numpy_dtype)


def convert(module: Any, array: NDArray[Any], target_opset: int | None) -> Conversion:
    import torch

    names = _output_names(len(_predict(module, array)))
    # A one-row sample would let the exporter specialise the batch axis to 1.
    example = torch.from_numpy(np.concatenate([array, array]) if array.shape[0] == 1 else array)
    with _eval_mode(module):
        try:
            proto, exporter = _export_dynamo(torch, module, example, names, target_opset), DYNAMO
        except Exception as exc:  # onnxscript missing, or torch.export cannot trace the module
            log.warning("dynamo ONNX exporter failed (%s); using the TorchScript exporter", exc)
            proto = _export_torchscript(torch, module, example, names, target_opset)
            exporter = TORCHSCRIPT
    return Conversion(
        proto=proto,
        framework="pytorch",
        framework_version=str(torch.__version__),
        converter=f"torch.onnx {exporter}",
        outputs=names,
        reference=_reference(module),
    )


@contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """Dropout and batch-norm in inference mode, and the caller's mode restored after."""
    training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(training)


def _predict(module: Any, array: NDArray[Any]) -> list[NDArray[Any]]:
    import torch

    with _eval_mode(module), torch.no_grad():
        return [t.detach().cpu().numpy() for t in _flatten(module(torch.from_numpy(array)))]


def _output_names(count: int) -> tuple[str, ...]:
    return ("output",) if count == 1 else tuple(f"output_{i}" for i in range(count))


def _flatten(result: Any) -> list[Any]:
    import torch

    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in result):
        return list(result)
    raise ConversionError(
        f"the module returned {type(result).__name__}; only a tensor or a tuple/list of "
        "tensors can become ONNX outputs"
    )


def _export_dynamo(
    torch: Any, module: Any, example: Any, names: tuple[str, ...], opset: int | None
) -> Any:
    batch = torch.export.Dim(BATCH_AXIS, min=1)
    # The exporter logs a warning per torchvision operator it cannot register; noise here.
    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_log.level
    registration_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=list(names),
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                verbose=False,
            )
    finally:
        registration_log.setLevel(level)
    return program.model_proto


def _export_torchscript(
    torch: Any, module: Any, example: Any, names: tuple[str, ...], opset: int | None
) -> Any:
    import onnx

    buffer = io.BytesIO()
    axes = {name: {0: BATCH_AXIS} for name in (INPUT_NAME, *names)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's own deprecation notice
            torch.onnx.export(
                module,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=list(names),
                dynamic_axes=axes,
                **({"opset_version": opset} if opset is not None else {}),
            )
    except Exception as exc:
        raise ConversionError(
            f"torch.onnx could not export {type(module).__name__}: {exc}"
        ) from exc
    return onnx.load_from_string(buffer.getvalue())


def _reference(module: Any) -> Reference:
    def reference(_original: object, array: NDArray[Any]) -> list[Expected]:
        outputs = _predict(module, array)
        names = _output_names(len(outputs))
        return [Expected(n, v) for n, v in zip(names, outputs, strict=True)]

    return reference
