"""Losses for recognition training: cross-entropy against hard, smoothed or soft labels.

Targets are either class indices ``[B]`` (int64) or soft targets ``[B, K]``
(float, rows summing to 1). Multi-head models (EPIC verb / noun) return a dict
of logits; their targets are ``batch["labels"][head]`` and the loss is the
sum over heads, each weighted by ``weights[head]`` when given (default 1).
:func:`multi_head_loss_fn` is the trainer's ``loss_fn`` hook for such a model.

Mixup / cutmix and label smoothing of targets are
:mod:`vidstruct.data.transforms.mix` (:class:`~vidstruct.data.transforms.mix.MixupCutmix`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from vidstruct.errors import InputError

__all__ = ["batch_targets", "classification_loss", "multi_head_loss_fn", "soft_cross_entropy"]

Targets = torch.Tensor | dict[str, torch.Tensor]
Outputs = torch.Tensor | dict[str, torch.Tensor]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum_k target_k * log_softmax(logits)_k`` (logits ``[B, K]``, target ``[B, K]``)."""
    return -(target * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def classification_loss(
    outputs: Outputs,
    targets: Targets,
    label_smoothing: float = 0.0,
    weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Cross-entropy of logits against hard (``[B]``) or soft (``[B, K]``) targets; for dicts the sum over heads
    of ``weights[head]`` (default 1) times the head's loss."""
    if isinstance(outputs, dict):
        if not isinstance(targets, dict):
            raise InputError(f"model returned heads {sorted(outputs)} but the batch has no per-head 'labels'")
        missing = [k for k in outputs if k not in targets]
        if missing:
            raise InputError(f"batch 'labels' lacks targets for head(s) {missing}; has {sorted(targets)}")
        w = weights or {}
        return sum(  # type: ignore[return-value]
            float(w.get(k, 1.0)) * classification_loss(outputs[k], targets[k], label_smoothing) for k in outputs
        )
    if isinstance(targets, dict):
        raise InputError("model returned one logits tensor but targets are per-head")
    if targets.is_floating_point():
        return soft_cross_entropy(outputs, targets)
    return F.cross_entropy(outputs.float(), targets.long(), label_smoothing=label_smoothing)


def batch_targets(batch: dict, outputs_are_dict: bool) -> Targets:
    """``batch["labels"]`` (per-head dict) for multi-head models, else ``batch["label"]``."""
    key = "labels" if outputs_are_dict else "label"
    if key not in batch:
        kind = "a dict of per-head logits" if outputs_are_dict else "one logits tensor"
        raise InputError(f"training batch has no {key!r} (model returns {kind}); batch keys: {sorted(batch)}")
    if outputs_are_dict:
        return {k: torch.as_tensor(v) for k, v in batch["labels"].items()}
    return torch.as_tensor(batch["label"])


def multi_head_loss_fn(
    weights: Mapping[str, float], label_smoothing: float = 0.0
) -> Callable[[torch.nn.Module, dict[str, Any], torch.device], torch.Tensor]:
    """The trainer's ``loss_fn(net, batch, device)`` for a model returning a dict of logits: the weighted sum over
    heads (``weights``) of their cross-entropy against ``batch["labels"][head]``.

    A batch with no clip (every sample failed to decode and was skipped) gives a zero loss.
    """

    def loss_fn(net: torch.nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
        if "clip" not in batch:
            return torch.zeros((), device=device, requires_grad=True)
        outputs = net(batch["clip"].to(device, non_blocking=True))
        if not isinstance(outputs, dict):
            raise InputError("a per-head loss needs a model that returns a dict of logits")
        targets = batch_targets(batch, True)
        targets = {k: v.to(device, non_blocking=True) for k, v in targets.items()}  # type: ignore[union-attr]
        return classification_loss(outputs, targets, label_smoothing, weights)

    return loss_fn
