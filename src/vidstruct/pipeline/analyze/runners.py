"""How a backbone runs on a batch of clips: eager PyTorch, or ONNX Runtime on the CPU.

A *runner* maps normalized clips ``float32 [B, C, T, H, W]`` to ``(features float32 [B, D], probs float32
[B, K] or None)``: the pooled features (the embeddings) and the softmax class probabilities.

- :func:`torch_runner`: the model itself (:func:`vidstruct.pipeline.features._features_and_probs`: one
  ``forward_features`` pass plus the classifier on it, verified once against ``model(clip)``);
- :func:`onnx_runner`: the same two outputs exported once per process with PyTorch's ``torch.export``-based
  ONNX exporter (batch size dynamic, ``T``/``H``/``W`` fixed by the model's input spec) and run by ONNX
  Runtime's ``CPUExecutionProvider``. Before use, its probabilities on an example clip must lie within
  :data:`ONNX_ATOL` of PyTorch's, else :class:`~vidstruct.models.export.ExportError`. Needs the ``export`` extra
  (``onnxscript``, ``onnxruntime``).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidstruct.models.export import ExportError
from vidstruct.pipeline.features import _feature_classifier, _features_and_probs
from vidstruct.pipeline.recognizer import Recognizer

__all__ = ["ONNX_ATOL", "Runner", "onnx_runner", "torch_runner"]

#: the largest |probability difference| allowed between ONNX Runtime and PyTorch on the example clip
ONNX_ATOL = 1e-3

Runner = Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray | None]]


def torch_runner(recognizer: Recognizer) -> Runner:
    """Eager PyTorch on the recognizer's device."""

    def run(clips: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        feats, probs = _features_and_probs(recognizer.model, clips.to(recognizer.device))
        return feats.float().cpu().numpy(), None if probs is None else probs.float().cpu().numpy()

    return run


class _FeaturesAndProbs(nn.Module):
    """``clip → (forward_features(clip), softmax(head(features)))``: both outputs from one backbone pass."""

    def __init__(self, model: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.model, self.head = model, head

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.forward_features(clip)
        return feats, torch.softmax(self.head(feats).float(), dim=-1)


def onnx_runner(recognizer: Recognizer) -> Runner:
    """ONNX Runtime (CPU) running the recognizer's backbone (see the module doc)."""
    try:
        import onnxruntime as ort
        import onnxscript  # noqa: F401  (needed by the exporter)
    except ImportError:
        hint = "pip install 'vidstruct[export]'"
        raise ExportError(f"runtime onnxruntime needs 'onnxruntime' and 'onnxscript': {hint}") from None
    model = recognizer.model.eval().to("cpu", torch.float32)
    head = _feature_classifier(model)
    if head is None:
        raise ExportError(f"{type(model).__name__}: no single linear classifier on the pooled features to export")
    wrapped = _FeaturesAndProbs(model, head).eval()
    spec = recognizer.spec
    example = torch.randn(
        2, 3, spec.num_frames, spec.crop_size, spec.crop_size, generator=torch.Generator().manual_seed(0)
    )
    with tempfile.TemporaryDirectory(prefix="vidstruct-onnx-") as tmp:
        path = Path(tmp) / "backbone.onnx"
        # the exporter prints progress on stdout; keep stdout for the command's results (e.g. --json)
        with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
            program = torch.onnx.export(
                wrapped,
                (example,),
                dynamo=True,
                input_names=["clip"],
                output_names=["features", "probs"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
                opset_version=18,
                external_data=False,
            )
        program.save(str(path))
        options = ort.SessionOptions()  # as many threads as PyTorch's (ONNX Runtime's default: every core)
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = torch.softmax(model(example).float(), dim=-1).numpy()
    got = session.run(["probs"], {"clip": example.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if not diff <= ONNX_ATOL:
        raise ExportError(
            f"ONNX Runtime's probabilities differ from PyTorch's by {diff:.3g} (> {ONNX_ATOL:g}) on an example clip; "
            "use runtime engine torch"
        )

    def run(clips: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        feats, probs = session.run(["features", "probs"], {"clip": clips.detach().cpu().float().numpy()})
        return np.asarray(feats, np.float32), np.asarray(probs, np.float32)

    return run
