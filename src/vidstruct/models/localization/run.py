"""Running a localization model for inference: its outputs on the CPU, ready for post-processing."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["run_model"]


@torch.no_grad()
def run_model(model: nn.Module, features: torch.Tensor) -> dict[str, torch.Tensor]:
    """``model`` in eval mode on snippet features ``[B, C, T]``: its output dict on the CPU (floats as float32).

    The model's training mode is restored afterwards; features move to the model's device.
    """
    was = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        out = model(features.to(device, torch.float32))
    finally:
        model.train(was)
    return {k: (v.float() if v.is_floating_point() else v).detach().cpu() for k, v in out.items()}
