"""Optimizers (SGD / AdamW), parameter groups and per-step LR schedules.

Parameter groups:

- weight decay is 0 for parameters with ``ndim <= 1`` (norm weights, biases,
  scalar gates, tokens of shape ``[D]``) when ``no_decay_norm_bias``;
- with ``layer_decay = d`` every parameter gets ``lr_scale = d ** (L + 1 - id)``
  where ``id`` is its layer: the model's ``layer_id(name)`` if it has one (and
  ``num_layers`` = L), else ``i + 1`` for names containing ``blocks.{i}.``,
  ``0`` for parameters before the blocks (embeddings, tokens) and ``L + 1``
  for the rest (final norm, head). The head keeps the full LR, the embedding
  ``d ** (L + 1)`` of it (BEiT / MAE fine-tuning recipe).

The schedule is a :class:`~torch.optim.lr_scheduler.LambdaLR` stepped once per
optimizer step: linear warmup from ``warmup_start_factor`` to 1 over
``warmup_steps``, then cosine (to ``min_lr``), step decay or constant. Each
group's LR is ``base_lr * lr_scale * factor(step)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch
from torch import nn

from vidstruct.engine.settings import OptimSettings
from vidstruct.errors import ConfigError

_BLOCK_RE = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
_EMBED_HINTS = ("embed", "cls_token", "pos_", "patch", "stem", "token")


def layer_ids(model: nn.Module) -> tuple[dict[str, int], int]:
    """``({param_name: layer_id}, num_layers)`` for layer-wise LR decay (see module doc)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    layer_fn = getattr(model, "layer_id", None)
    if callable(layer_fn) and hasattr(model, "num_layers"):
        return {n: int(layer_fn(n)) for n in names}, int(model.num_layers)
    blocks = {n: int(m.group(1)) for n in names if (m := _BLOCK_RE.search(n))}
    if not blocks:
        raise ConfigError(
            "optim.layer_decay: the model has no `layer_id(name)` / `num_layers` and no parameters named "
            "'blocks.<i>.'; layer-wise LR decay needs one of them (or set optim.layer_decay: null)"
        )
    num_layers = max(blocks.values()) + 1
    ids: dict[str, int] = {}
    seen_block = False
    for n in names:  # parameters are listed in module registration order
        if n in blocks:
            ids[n], seen_block = blocks[n] + 1, True
        elif not seen_block or any(h in n for h in _EMBED_HINTS) and not n.startswith("head"):
            ids[n] = 0
        else:
            ids[n] = num_layers + 1
    return ids, num_layers


def param_groups(model: nn.Module, settings: OptimSettings) -> list[dict]:
    """Parameter groups with ``weight_decay`` and ``lr_scale`` set (see module doc)."""
    ids, num_layers = layer_ids(model) if settings.layer_decay is not None else ({}, 0)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = settings.no_decay_norm_bias and p.ndim <= 1
        layer = ids.get(name, 0)
        scale = settings.layer_decay ** (num_layers + 1 - layer) if settings.layer_decay is not None else 1.0
        key = (layer, no_decay)
        if key not in groups:
            wd = 0.0 if no_decay else settings.weight_decay
            groups[key] = {"params": [], "names": [], "weight_decay": wd, "lr_scale": scale, "layer_id": layer}
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: nn.Module, settings: OptimSettings) -> torch.optim.Optimizer:
    """SGD or AdamW over :func:`param_groups` (group ``lr = settings.lr * lr_scale``)."""
    groups = param_groups(model, settings)
    for g in groups:
        g["lr"] = settings.lr * g["lr_scale"]
        g["initial_lr"] = g["lr"]
    if settings.name == "sgd":
        return torch.optim.SGD(
            groups, lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov and settings.momentum > 0
        )
    if settings.name == "adamw":
        return torch.optim.AdamW(groups, lr=settings.lr, betas=tuple(settings.betas))
    raise ConfigError(f"optim.name: unknown optimizer {settings.name!r} (expected sgd or adamw)")


def lr_factor(settings: OptimSettings, max_steps: int) -> Callable[[int], float]:
    """``factor(step)`` multiplying each group's initial LR at optimizer step ``step`` (0-based)."""
    warmup, start = settings.warmup_steps, settings.warmup_start_factor
    min_ratio = settings.min_lr / settings.lr
    milestones = sorted(settings.milestones)
    if settings.schedule not in ("cosine", "step", "constant"):
        raise ConfigError(f"optim.schedule: unknown schedule {settings.schedule!r} (expected cosine, step, constant)")

    def factor(step: int) -> float:
        if step < warmup:
            return start + (1.0 - start) * step / warmup
        if settings.schedule == "cosine":
            progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
            return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if settings.schedule == "step":
            return settings.gamma ** sum(step >= m for m in milestones)
        return 1.0

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: OptimSettings, max_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step :class:`LambdaLR` following :func:`lr_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(settings, max_steps))
