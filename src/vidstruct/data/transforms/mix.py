"""Batch-level mixup / cutmix with soft targets and label smoothing (timm's recipe, for clips).

Clips are ``float32 [B, C, T, H, W]``; each clip is mixed with its partner in
the reversed batch (``clips.flip(0)``), as timm does. Targets are soft class
distributions ``[B, K]`` that sum to 1:

- smoothing: ``y = onehot * (1 - eps) + eps / K``;
- mixup: ``x = lam * x + (1 - lam) * x_rev``, ``y = lam * y + (1 - lam) * y_rev``;
- cutmix: one box (the same in every frame) of ``x_rev`` pasted into ``x``;
  ``lam = 1 - box_area / (H * W)`` (corrected for clipping at the border) mixes ``y``.
"""

from __future__ import annotations

import numpy as np
import torch

from vidstruct.errors import ConfigError, InputError

__all__ = ["MixupCutmix", "cutmix", "cutmix_box", "mixup", "smooth_targets"]


def smooth_targets(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Class indices ``[B]`` (or soft targets ``[B, K]``) → ``float32 [B, K]``: ``y * (1 - eps) + eps / K``."""
    if not 0 <= smoothing < 1:
        raise ConfigError(f"label smoothing must be in [0, 1), got {smoothing!r}")
    if labels.ndim == 1:
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise InputError(f"labels must be in [0, {num_classes}), got {labels.tolist()}")
        targets = torch.nn.functional.one_hot(labels.long(), num_classes).float()
    elif labels.ndim == 2 and labels.shape[1] == num_classes:
        targets = labels.float()
    else:
        raise InputError(f"labels must be [B] class indices or [B, {num_classes}] targets, got {tuple(labels.shape)}")
    return targets * (1.0 - smoothing) + smoothing / num_classes


def mixup(clips: torch.Tensor, targets: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each clip / target with its reversed-batch partner: ``lam * a + (1 - lam) * a.flip(0)``."""
    return lam * clips + (1.0 - lam) * clips.flip(0), lam * targets + (1.0 - lam) * targets.flip(0)


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """timm's ``rand_bbox``: box of side ``int(side * sqrt(1 - lam))`` around a uniform random centre.

    Returns ``(top, bottom, left, right)``, clipped to the frame (so its area may be smaller).
    """
    ratio = float(np.sqrt(1.0 - lam))
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    top, bottom = int(np.clip(cy - cut_h // 2, 0, height)), int(np.clip(cy + cut_h // 2, 0, height))
    left, right = int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cx + cut_w // 2, 0, width))
    return top, bottom, left, right


def cutmix(
    clips: torch.Tensor, targets: torch.Tensor, box: tuple[int, int, int, int]
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Paste ``box = (top, bottom, left, right)`` of the reversed batch into every frame of each clip.

    ``clips [B, C, T, H, W]``; returns ``(clips, targets, lam)`` with ``lam = 1 - box_area / (H * W)``.
    """
    top, bottom, left, right = box
    height, width = clips.shape[-2:]
    out = clips.clone()
    out[..., top:bottom, left:right] = clips.flip(0)[..., top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
    return out, lam * targets + (1.0 - lam) * targets.flip(0), lam


class MixupCutmix:
    """Randomly apply mixup or cutmix to a batch and return soft targets.

    With probability ``prob`` a batch is mixed: cutmix with probability
    ``switch_prob`` when both alphas are > 0 (otherwise whichever is > 0), with
    ``lam ~ Beta(alpha, alpha)``. Unmixed batches still get (smoothed) soft
    targets. ``last_lam`` / ``last_mode`` record the last call (for logging).
    ``rng`` (a numpy Generator) makes the draws reproducible.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ConfigError(f"mixup/cutmix alpha must be >= 0, got {mixup_alpha}, {cutmix_alpha}")
        if not (0 <= prob <= 1 and 0 <= switch_prob <= 1):
            raise ConfigError(f"prob and switch_prob must be in [0, 1], got {prob}, {switch_prob}")
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob = float(prob), float(switch_prob)
        self.label_smoothing = float(label_smoothing)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.last_lam = 1.0
        self.last_mode = "none"

    def __call__(self, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``clips [B, C, T, H, W]``, ``labels [B]`` (or ``[B, K]``) → ``(clips, targets [B, K])``."""
        if clips.ndim != 5:
            raise InputError(f"mixup/cutmix expects clips [B, C, T, H, W], got {tuple(clips.shape)}")
        targets = smooth_targets(labels, self.num_classes, self.label_smoothing).to(clips.device)
        self.last_lam, self.last_mode = 1.0, "none"
        if (self.mixup_alpha == 0 and self.cutmix_alpha == 0) or self.rng.random() >= self.prob:
            return clips, targets
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or self.rng.random() < self.switch_prob)
        if use_cutmix:
            lam = float(self.rng.beta(self.cutmix_alpha, self.cutmix_alpha))
            box = cutmix_box(clips.shape[-2], clips.shape[-1], lam, self.rng)
            clips, targets, self.last_lam = cutmix(clips, targets, box)
            self.last_mode = "cutmix"
            return clips, targets
        lam = float(self.rng.beta(self.mixup_alpha, self.mixup_alpha))
        self.last_lam, self.last_mode = lam, "mixup"
        return mixup(clips, targets, lam)
