"""Size and cost of a registered model: parameters, FLOPs per view at its default input, input spec.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix
products only (no BN, activations or pooling), **one multiply-add = 2 FLOPs**. Papers and
model zoos (X3D, SlowFast, PyTorchVideo, torchvision's ``_ops``) quote multiply-adds under
the name "FLOPs", so compare them with ``gmacs = gflops / 2``: e.g. X3D-M at 16×224² gives
4.73 GMACs (the X3D paper's "4.73 GFLOPs"; its "6.2 GFLOPs" is the 16×256² test view),
R(2+1)D-18 at 16×112² gives 40.52 GMACs (torchvision's 40.52 "GFLOPS").

The model is built on the ``meta`` device when possible, so no weights are allocated and no
arithmetic runs.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from vidstruct.models import MODELS

FLOP_COUNTER = (
    "torch.utils.flop_counter.FlopCounterMode: conv and matmul FLOPs only, one multiply-add = 2 FLOPs; "
    "papers quote multiply-adds as 'FLOPs', compare those with gmacs = gflops / 2"
)


def _build(name: str, num_classes: int) -> tuple[torch.nn.Module, torch.device]:
    takes_classes = "num_classes" in inspect.signature(MODELS.get(name)).parameters
    kwargs = {"num_classes": num_classes} if takes_classes else {}
    try:
        with torch.device("meta"):
            return MODELS.build(name, **kwargs).eval(), torch.device("meta")
    except (NotImplementedError, RuntimeError):  # a builder that needs real tensors
        return MODELS.build(name, **kwargs).eval(), torch.device("cpu")


def count_flops(model: torch.nn.Module, inputs: torch.Tensor) -> int:
    """FLOPs (2 per multiply-add, conv / matmul only) of one ``model(inputs)`` call."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(inputs)
    return int(counter.get_total_flops())


def model_info(
    name: str, num_classes: int = 400, *, num_frames: int | None = None, crop_size: int | None = None
) -> dict[str, Any]:
    """``{"name", "params", "gflops", "gmacs", "flop_counter", "input", "input_shape", "feature_dim", "num_classes"}``.

    ``gflops`` is for one view (batch 1) at the model's default input (``input_spec``), or at
    ``num_frames`` × ``crop_size``² when given. An unknown ``name`` raises
    :class:`~vidstruct.errors.RegistryError` with close matches.
    """
    MODELS.get(name)
    model, device = _build(name, num_classes)
    params = sum(p.numel() for p in model.parameters())
    if not hasattr(model, "input_spec"):  # e.g. localization models over snippet features [B, C, T]
        return {
            "name": name,
            "params": params,
            "gflops": None,
            "gmacs": None,
            "flop_counter": FLOP_COUNTER,
            "input": None,
            "note": f"{type(model).__name__} does not take video clips; FLOPs are counted for clip models only",
        }
    spec = model.input_spec
    c, t, h, w = spec.shape
    shape = (1, c, num_frames or t, crop_size or h, crop_size or w)
    flops = count_flops(model, torch.zeros(shape, device=device))
    return {
        "name": name,
        "params": params,
        "gflops": round(flops / 1e9, 4),
        "gmacs": round(flops / 2e9, 4),
        "flop_counter": FLOP_COUNTER,
        "input": spec.to_dict(),
        "input_shape": list(shape),
        "feature_dim": int(model.feature_dim),
        "num_classes": num_classes,
    }
