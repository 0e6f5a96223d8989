"""Export a recognition model to ONNX or TorchScript for deployment.

The exported graph takes a normalized clip ``clip: float32 [B, 3, T, H, W]``
(batch size dynamic, T/H/W fixed to the model's input spec) and returns
``probs: float32 [B, num_classes]`` — softmax probabilities, not logits, so
a deployment never has to remember to apply them.

ONNX uses PyTorch's ``torch.export``-based exporter (needs ``onnxscript``).
The file is written to a temporary file beside ``out`` (:func:`vidstruct.atomic.atomic_path`) and,
unless ``check=False``, the exported file itself is run on the example clip (onnxruntime for
ONNX, ``torch.jit.load`` for TorchScript) and compared with PyTorch (:func:`exported_max_abs_diff`);
only a file that passes is renamed onto ``out``. An export that fails at any point, the parity
check included, leaves nothing at ``out`` (and an older file there untouched).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from vidstruct.atomic import atomic_path
from vidstruct.errors import VidstructError

__all__ = [
    "ExportError",
    "ExportResult",
    "ProbabilityModel",
    "export_model",
    "exported_max_abs_diff",
    "onnx_max_abs_diff",
]

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


@dataclass(frozen=True)
class ExportResult:
    """An exported file: its ``path`` and the parity check's max |probabilities difference| (``None``: unchecked)."""

    path: Path
    max_abs_diff: float | None


def export_model(
    model: nn.Module,
    example: torch.Tensor,
    out: str | Path,
    fmt: ExportFormat = "onnx",
    opset: int = 18,
    *,
    check: bool = True,
    atol: float = 1e-4,
) -> ExportResult:
    """Export ``model`` (eval mode, CPU, float32) traced on ``example`` ``[B, 3, T, H, W]`` to ``out`` (module doc).

    ``check``: run the exported file on ``example`` and raise :class:`ExportError` (nothing written) when its
    probabilities differ from PyTorch's by more than ``atol``.
    """
    if fmt not in ("onnx", "torchscript"):
        raise ExportError(f"unknown export format {fmt!r} (expected 'onnx' or 'torchscript')")
    out = Path(out)
    wrapped = ProbabilityModel(model).eval().to("cpu", torch.float32)
    example = example.to("cpu", torch.float32)
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(wrapped, (example,), check_trace=False)
            traced.save(str(tmp))
        else:
            _export_onnx(wrapped, example, tmp, opset)
        diff = exported_max_abs_diff(model, tmp, example, fmt) if check else None
        if diff is not None and not diff <= atol:
            raise ExportError(
                f"{out}: the exported {fmt} model's probabilities differ from PyTorch's by {diff:.3g} (> {atol:g}) "
                "on the example clip; nothing was written"
            )
    return ExportResult(out, diff)


def _export_onnx(wrapped: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    try:
        import onnxscript  # noqa: F401  (optional dependency, the 'export' extra)
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
        raise ExportError(f"{path}: ONNX export returned nothing")
    program.save(str(path))


def exported_max_abs_diff(model: nn.Module, path: str | Path, clip: torch.Tensor, fmt: ExportFormat) -> float:
    """Max |probabilities(PyTorch) − probabilities(exported file at ``path``)| on ``clip`` ``[B, 3, T, H, W]``."""
    if fmt == "onnx":
        return onnx_max_abs_diff(model, path, clip)
    with torch.no_grad():
        expected = ProbabilityModel(model).eval()(clip.float())
        got = torch.jit.load(str(path), map_location="cpu")(clip.float())
    return float((got - expected).abs().max())


def onnx_max_abs_diff(model: nn.Module, onnx_path: str | Path, clip: torch.Tensor) -> float:
    """Max |probabilities(PyTorch) − probabilities(onnxruntime)| on ``clip`` ``[B, 3, T, H, W]``."""
    try:
        import onnxruntime as ort  # optional dependency (the 'export' extra)
    except ImportError:
        raise ExportError("the ONNX parity check needs 'onnxruntime': pip install 'vidstruct[export]'") from None

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = ProbabilityModel(model).eval()(clip.float()).numpy()
    got = session.run(["probs"], {"clip": clip.float().numpy()})[0]
    return float(abs(got - expected).max())
