"""Import PyTorchVideo (the reference implementation) in tests, and make its models comparable to ours.

PyTorchVideo 0.1.5 imports ``torchvision.transforms.functional_tensor``, which newer
torchvision removed: :func:`install_shim` aliases it to ``torchvision.transforms.functional``.
"""

from __future__ import annotations

import sys
import types
import warnings

import torch
from torch import nn


def install_shim() -> None:
    """Alias ``torchvision.transforms.functional_tensor`` → ``torchvision.transforms.functional``."""
    import torchvision.transforms.functional as F

    sys.modules.setdefault("torchvision.transforms.functional_tensor", F)


def hub() -> types.ModuleType:
    """``pytorchvideo.models.hub`` (builders of the model zoo architectures, no download when ``pretrained=False``)."""
    install_shim()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorchvideo.models import hub as pv_hub
    return pv_hub


def build_reference(name: str, **kwargs: object) -> nn.Module:
    """PyTorchVideo hub model ``name`` with random weights, eval mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(hub(), name)(pretrained=False, **kwargs).eval()


@torch.no_grad()
def randomize_norms(model: nn.Module, seed: int = 1) -> nn.Module:
    """Random BN affine parameters and running statistics, so a wrong key mapping changes the output."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def make_resolution_agnostic(name: str, model: nn.Module) -> nn.Module:
    """Replace the fixed-window head pooling of a PyTorchVideo model by global pooling and drop its softmax.

    At the default input both poolings cover the whole map, so this only lets tests use small clips;
    the softmax of ``r2plus1d_r50`` / X3D heads is dropped because our models return logits.
    """
    head = model.blocks[-1]
    if name.startswith("slowfast"):
        model.blocks[-2].pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1), nn.AdaptiveAvgPool3d(1)])
    elif name.startswith("x3d"):
        head.pool.pool = nn.AdaptiveAvgPool3d(1)
    else:
        head.pool = nn.AdaptiveAvgPool3d(1)
    head.activation = None
    return model


def reference_forward(name: str, model: nn.Module, clip: torch.Tensor, alpha: int = 4) -> torch.Tensor:
    """Run a PyTorchVideo model on ``clip [B, C, T, H, W]``; SlowFast gets ``[clip[:, :, ::alpha], clip]``.

    PyTorchVideo's SlowFast overwrites its input list in place, so it gets fresh copies.
    """
    with torch.no_grad():
        if name.startswith("slowfast"):
            return model([clip[:, :, ::alpha].clone(), clip.clone()])
        return model(clip.clone())
