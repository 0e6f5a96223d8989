"""Precise BatchNorm: recompute BN running statistics over N training batches.

The running mean / variance kept during training lag behind the final
weights; PySlowFast recomputes them at the end with the weights frozen. Like
:func:`torch.optim.swa_utils.update_bn`, every BN layer is reset and switched
to a cumulative average (``momentum=None``) while ``num_batches`` batches run
forward in train mode without gradients. Under DDP the statistics are then
averaged over processes so that all ranks keep identical buffers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from vidstruct.engine.distributed import all_reduce_mean

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, _BN) for m in model.modules())


@torch.no_grad()
def recompute_bn_stats(
    model: nn.Module, batches: Iterator[Any], num_batches: int, forward: Callable[[nn.Module, Any], Any]
) -> int:
    """Recompute BN statistics of ``model`` over ``num_batches`` from ``batches``; returns batches used.

    ``forward(model, batch)`` runs one batch through the model (moving it to the device).
    """
    layers = [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]
    if not layers or num_batches <= 0:
        return 0
    momenta = {m: m.momentum for m in layers}
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    used = 0
    for batch in batches:
        forward(model, batch)
        used += 1
        if used >= num_batches:
            break
    for m in layers:
        m.momentum = momenta[m]
        if dist.is_available() and dist.is_initialized():
            m.running_mean.copy_(all_reduce_mean(m.running_mean))
            m.running_var.copy_(all_reduce_mean(m.running_var))
    model.train(was_training)
    return used
