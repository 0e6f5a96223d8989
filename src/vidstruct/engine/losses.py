"""Targets and losses for recognition training: hard / smoothed / soft labels, mixup and cutmix.

Targets are either class indices ``[B]`` (int64) or soft targets ``[B, K]``
(float, rows summing to 1). Multi-head models (EPIC verb / noun) return a dict
of logits; their targets are ``batch["labels"][head]`` and the loss is the
sum over heads.

Mixup / cutmix (on clips ``[B, C, T, H, W]``): with probability 0.5 each
when both are on, draw ``lam ~ Beta(alpha, alpha)`` and pair every clip with
the batch flipped along B. Mixup blends whole clips; cutmix pastes the same
``H x W`` box into every frame and sets ``lam`` to the kept area. Targets
become ``lam * y + (1 - lam) * y.flip(0)`` (after label smoothing). All draws
come from one :class:`torch.Generator`, which the trainer checkpoints.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vidstruct.errors import InputError

Targets = torch.Tensor | dict[str, torch.Tensor]
Outputs = torch.Tensor | dict[str, torch.Tensor]


def one_hot_smoothed(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """``[B] -> [B, K]``: ``1 - smoothing + smoothing / K`` on the label, ``smoothing / K`` elsewhere."""
    if labels.min() < 0 or labels.max() >= num_classes:
        raise InputError(f"label out of range [0, {num_classes}): got {labels.min().item()}..{labels.max().item()}")
    off = smoothing / num_classes
    out = torch.full((labels.shape[0], num_classes), off, dtype=torch.float32, device=labels.device)
    out.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing + off)
    return out


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


@dataclass
class MixupCutmix:
    """Batch mixing of clips ``[B, C, T, H, W]`` and their targets (see module doc).

    Use in two halves around the forward pass: ``clip, lam = mix.mix_clip(clip, g)``,
    then ``targets = mix.mix_targets(targets, outputs, lam)`` (the number of classes
    is read from the logits).
    """

    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    label_smoothing: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def mix_clip(self, clip: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, float]:
        """``(mixed clips [B, C, T, H, W], lam)``: the weight ``lam`` of each clip's own content."""
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or torch.rand((), generator=generator) < 0.5)
        lam = _beta(self.cutmix_alpha if use_cutmix else self.mixup_alpha, generator)
        if use_cutmix:
            clip = clip.clone()
            return clip, _paste_box(clip, lam, generator)
        return lam * clip + (1.0 - lam) * clip.flip(0), lam

    def mix_targets(self, targets: Targets, outputs: Outputs, lam: float) -> Targets:
        """Soft targets ``lam * y + (1 - lam) * y.flip(0)`` of smoothed one-hot (or soft) ``targets``."""
        if isinstance(targets, dict):
            assert isinstance(outputs, dict)
            return {k: self.mix_targets(v, outputs[k], lam) for k, v in targets.items() if k in outputs}
        assert isinstance(outputs, torch.Tensor)
        num_classes = outputs.shape[-1]
        soft = (
            targets.float()
            if targets.is_floating_point()
            else one_hot_smoothed(targets, num_classes, self.label_smoothing)
        )
        return lam * soft + (1.0 - lam) * soft.flip(0)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """A ``Beta(alpha, alpha)`` draw, by ``random.Random.betavariate`` seeded from ``generator``."""
    seed = int(torch.randint(2**62, (), generator=generator))
    return random.Random(seed).betavariate(alpha, alpha)


def _paste_box(clip: torch.Tensor, lam: float, generator: torch.Generator) -> float:
    """Paste a box of area ``(1 - lam) * H * W`` from the flipped batch into every frame; returns the kept area."""
    h, w = clip.shape[-2:]
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy = int(torch.randint(h, (), generator=generator))
    cx = int(torch.randint(w, (), generator=generator))
    y1, y2 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x1, x2 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    clip[..., y1:y2, x1:x2] = clip.flip(0)[..., y1:y2, x1:x2]
    return 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
