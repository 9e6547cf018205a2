"""PyTorch modules export to ONNX with a dynamic batch axis and match the eager outputs."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime
import torch
from torch import nn

from modelfleet.convert import to_onnx

# Tiny models: one thread avoids pool spin-up and contention on a shared machine.
torch.set_num_threads(1)


def train(model: nn.Module, x: np.ndarray, y: torch.Tensor, loss_fn: nn.Module) -> nn.Module:
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    inputs = torch.from_numpy(x.astype(np.float32))
    for _ in range(40):
        optimiser.zero_grad()
        loss_fn(model(inputs), y).backward()
        optimiser.step()
    return model


class TwoHeads(nn.Module):
    """Logits and probabilities: a module with two outputs."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Dropout(0.2))
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.head(self.body(x))
        return logits, torch.softmax(logits, dim=1)


def test_regression_mlp_with_dynamic_batch(tabular):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(tabular.x.shape[1], 16), nn.ReLU(), nn.Linear(16, 1))
    target = torch.from_numpy(tabular.target.astype(np.float32)).unsqueeze(1)
    train(model, tabular.x, target, nn.MSELoss())

    # A single-row sample must not pin the batch axis to 1.
    converted = to_onnx(model, tabular.x[:1], feature_names=[f"f{i}" for i in range(6)])

    assert converted.framework == "pytorch"
    assert converted.framework_version == torch.__version__
    assert converted.converter == "torch.onnx dynamo"
    assert converted.input_names == ("input",)
    assert converted.input_shape == (None, tabular.x.shape[1])
    assert converted.output_names == ("output",)
    assert converted.feature_names == tuple(f"f{i}" for i in range(6))
    session = onnxruntime.InferenceSession(converted.onnx_bytes, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": tabular.x[:37].astype(np.float32)})
    assert out.shape == (37, 1)
    (check,) = converted.verify(tabular.x)
    assert check.max_abs_diff < 1e-4


def test_classifier_with_two_outputs_keeps_training_mode(tabular):
    torch.manual_seed(0)
    model = TwoHeads(tabular.x.shape[1], 3)
    train(
        model,
        tabular.x,
        torch.from_numpy(tabular.multiclass),
        lambda out, y: nn.functional.cross_entropy(out[0], y),
    )
    model.train()

    converted = to_onnx(model, torch.from_numpy(tabular.sample.astype(np.float32)))

    assert converted.output_names == ("output_0", "output_1")
    assert [c.output for c in converted.verify(tabular.sample)] == ["output_0", "output_1"]
    # Export ran in eval mode (no dropout) and handed the module back as it came.
    assert model.training


def test_double_precision_module_gets_a_double_input(tabular):
    model = nn.Linear(tabular.x.shape[1], 2).double()

    converted = to_onnx(model, tabular.sample)

    assert converted.input_dtype == np.float64


def test_falls_back_to_the_torchscript_exporter_without_onnxscript(tabular, monkeypatch, caplog):
    model = nn.Sequential(nn.Linear(tabular.x.shape[1], 4), nn.Tanh())
    # None in sys.modules is how Python marks a module unimportable: the dynamo
    # exporter then fails on its first onnxscript import, as it does when not installed.
    for name in [n for n in sys.modules if n == "onnxscript" or n.startswith("onnxscript.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "onnxscript", None)

    converted = to_onnx(model, tabular.sample)

    assert converted.converter == "torch.onnx torchscript"
    assert "using the TorchScript exporter" in caplog.text
    assert converted.input_shape == (None, tabular.x.shape[1])
    session = onnxruntime.InferenceSession(converted.onnx_bytes, providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": tabular.x[:9].astype(np.float32)})[0].shape == (9, 4)
