"""Exponential moving average of the weights (``torch.optim.swa_utils.AveragedModel``).

After every optimizer step ``ema = decay * ema + (1 - decay) * weights`` for
parameters and buffers (BatchNorm statistics included). Its state dict has
the model's keys prefixed with ``module.`` plus ``n_averaged``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def build_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """An EMA copy of ``model`` (the bare module, not a DDP wrapper), or ``None`` when ``decay`` is ``None``."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@torch.no_grad()
def update_ema(ema: AveragedModel | None, model: nn.Module) -> None:
    """Fold the current weights of ``model`` into ``ema`` (no-op for ``None``)."""
    if ema is not None:
        ema.update_parameters(model)
