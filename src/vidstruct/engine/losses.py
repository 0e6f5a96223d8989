"""Losses for recognition training: cross-entropy against hard, smoothed or soft labels.

Targets are either class indices ``[B]`` (int64) or soft targets ``[B, K]``
(float, rows summing to 1). Multi-head models (EPIC verb / noun) return a dict
of logits; their targets are ``batch["labels"][head]`` and the loss is the
sum over heads.

Mixup / cutmix and label smoothing of targets are
:mod:`vidstruct.data.transforms.mix` (:class:`~vidstruct.data.transforms.mix.MixupCutmix`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidstruct.errors import InputError

__all__ = ["batch_targets", "classification_loss", "soft_cross_entropy"]

Targets = torch.Tensor | dict[str, torch.Tensor]
Outputs = torch.Tensor | dict[str, torch.Tensor]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum_k target_k * log_softmax(logits)_k`` (logits ``[B, K]``, target ``[B, K]``)."""
    return -(target * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def classification_loss(outputs: Outputs, targets: Targets, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of logits against hard (``[B]``) or soft (``[B, K]``) targets; summed over heads for dicts."""
    if isinstance(outputs, dict):
        if not isinstance(targets, dict):
            raise InputError(f"model returned heads {sorted(outputs)} but the batch has no per-head 'labels'")
        missing = [k for k in outputs if k not in targets]
        if missing:
            raise InputError(f"batch 'labels' lacks targets for head(s) {missing}; has {sorted(targets)}")
        return sum(classification_loss(outputs[k], targets[k], label_smoothing) for k in outputs)  # type: ignore[return-value]
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
