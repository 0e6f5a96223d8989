"""Export a recognition model to ONNX or TorchScript for deployment.

The exported graph takes a normalized clip ``clip: float32 [B, 3, T, H, W]``
(batch size dynamic, T/H/W fixed to the model's input spec) and returns
``probs: float32 [B, num_classes]`` — softmax probabilities, not logits, so
a deployment never has to remember to apply them.

ONNX uses PyTorch's ``torch.export``-based exporter (needs ``onnxscript``);
check parity with :func:`onnx_max_abs_diff` (onnxruntime).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from vidstruct.errors import VidstructError

ExportFormat = Literal["onnx", "torchscript"]


class ExportError(VidstructError):
    """The model could not be exported (missing exporter package, unsupported op...)."""


class ProbabilityModel(nn.Module):
    """Wrap a classifier so its output is softmax probabilities ``[B, num_classes]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(clip).float(), dim=-1)


def export_model(
    model: nn.Module, example: torch.Tensor, out: str | Path, fmt: ExportFormat = "onnx", opset: int = 18
) -> Path:
    """Export ``model`` (eval mode, CPU, float32) traced on ``example`` ``[B, 3, T, H, W]`` to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapped = ProbabilityModel(model).eval().to("cpu", torch.float32)
    example = example.to("cpu", torch.float32)
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(wrapped, (example,), check_trace=False)
        traced.save(str(out))
        return out
    if fmt != "onnx":
        raise ExportError(f"unknown export format {fmt!r} (expected 'onnx' or 'torchscript')")
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the 'onnxscript' package: pip install 'vidstruct[export]'") from None
    batch = torch.export.Dim("batch", min=1, max=1024)
    # the exporter prints progress on stdout; keep stdout for the caller's results (e.g. --json)
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
        program = torch.onnx.export(
            wrapped,
            (example,),
            dynamo=True,
            input_names=["clip"],
            output_names=["probs"],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            external_data=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns a program
        raise ExportError(f"{out}: ONNX export returned nothing")
    program.save(str(out))
    return out


def onnx_max_abs_diff(model: nn.Module, onnx_path: str | Path, clip: torch.Tensor) -> float:
    """Max |probabilities(PyTorch) − probabilities(onnxruntime)| on ``clip`` ``[B, 3, T, H, W]``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = ProbabilityModel(model).eval()(clip.float()).numpy()
    got = session.run(["probs"], {"clip": clip.float().numpy()})[0]
    return float(abs(got - expected).max())
