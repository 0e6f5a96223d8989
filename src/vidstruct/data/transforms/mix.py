"""Batch-level mixup / cutmix with soft targets and label smoothing (timm's recipe, for clips).

The one implementation of clip mixing: the trainer uses it (through
:class:`MixupCutmix`'s two halves, :meth:`~MixupCutmix.mix_clip` before the
forward pass and :meth:`~MixupCutmix.mix_targets` after it) and so can any
other loop (:meth:`~MixupCutmix.__call__` does both).

Clips are ``float32 [B, C, T, H, W]``; each clip is mixed with its partner in
the reversed batch (``clips.flip(0)``), as timm does. Targets are soft class
distributions ``[B, K]`` that sum to 1:

- smoothing (:func:`smooth_targets`): ``y = onehot * (1 - eps) + eps / K`` for
  class indices; soft targets given as ``[B, K]`` are used as they are;
- mixup: ``x = lam * x + (1 - lam) * x_rev``, ``y = lam * y + (1 - lam) * y_rev``;
- cutmix: one box (the same in every frame) of ``x_rev`` pasted into ``x``
  (:func:`cutmix_box`, timm's ``rand_bbox``); ``lam = 1 - box_area / (H * W)``
  (the area after clipping at the border) mixes ``y``.

Every random draw comes from one :class:`torch.Generator` (which the trainer
checkpoints, so a resumed run draws the same boxes and weights): whether to mix
(only when ``prob < 1``), cutmix or mixup (only when both alphas are > 0),
``lam ~ Beta(alpha, alpha)``, then the box centre.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from vidstruct.errors import ConfigError, InputError, ShapeError

__all__ = ["MixupCutmix", "cutmix", "cutmix_box", "mixup", "paste_box", "smooth_targets"]

Targets = torch.Tensor | dict[str, torch.Tensor]


def smooth_targets(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Class indices ``[B]`` → ``float32 [B, K]``: ``onehot * (1 - eps) + eps / K``.

    Soft targets ``[B, K]`` (floating point) are returned as ``float32`` without smoothing them again.
    """
    if not 0 <= smoothing < 1:
        raise ConfigError(f"label smoothing must be in [0, 1), got {smoothing!r}")
    if labels.ndim == 2 and labels.shape[1] == num_classes and labels.is_floating_point():
        return labels.float()
    if labels.ndim != 1 or labels.is_floating_point():
        raise ShapeError(f"labels must be [B] class indices or [B, {num_classes}] soft targets, got "
                         f"{labels.dtype} {tuple(labels.shape)}")  # fmt: skip
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise InputError(
            f"labels must be in [0, {num_classes}), got values {int(labels.min())}..{int(labels.max())} (out of range)"
        )
    return F.one_hot(labels.long(), num_classes).float() * (1.0 - smoothing) + smoothing / num_classes


def mixup(clips: torch.Tensor, targets: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each clip / target with its reversed-batch partner: ``lam * a + (1 - lam) * a.flip(0)``."""
    return lam * clips + (1.0 - lam) * clips.flip(0), lam * targets + (1.0 - lam) * targets.flip(0)


def cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator | None = None
) -> tuple[int, int, int, int]:
    """timm's ``rand_bbox``: box of side ``int(side * sqrt(1 - lam))`` around a uniform random centre.

    Returns ``(top, bottom, left, right)`` in pixels, clipped to the frame (so its area may be smaller).
    """
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (), generator=generator))
    cx = int(torch.randint(width, (), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return top, bottom, left, right


def paste_box(clips: torch.Tensor, box: tuple[int, int, int, int]) -> tuple[torch.Tensor, float]:
    """Paste ``box = (top, bottom, left, right)`` of the reversed batch into every frame of each clip.

    ``clips [B, C, T, H, W]`` (left untouched); returns ``(mixed clips, lam)``, ``lam = 1 - box_area / (H * W)``.
    """
    top, bottom, left, right = box
    height, width = clips.shape[-2:]
    out = clips.clone()
    out[..., top:bottom, left:right] = clips.flip(0)[..., top:bottom, left:right]
    return out, 1.0 - (bottom - top) * (right - left) / float(height * width)


def cutmix(
    clips: torch.Tensor, targets: torch.Tensor, box: tuple[int, int, int, int]
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """:func:`paste_box` and the matching targets: ``(clips, lam * y + (1 - lam) * y.flip(0), lam)``."""
    out, lam = paste_box(clips, box)
    return out, lam * targets + (1.0 - lam) * targets.flip(0), lam


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    """A ``Beta(alpha, alpha)`` draw by ``random.Random.betavariate``, seeded from ``generator``
    (torch has no generator-driven Beta sampler)."""
    seed = int(torch.randint(2**62, (), generator=generator))
    return random.Random(seed).betavariate(alpha, alpha)


class MixupCutmix:
    """Randomly apply mixup or cutmix to a batch of clips and build the matching soft targets (module doc).

    With probability ``prob`` a batch is mixed: cutmix with probability ``switch_prob`` when both alphas
    are > 0 (otherwise whichever is > 0), with ``lam ~ Beta(alpha, alpha)``. Unmixed batches still get
    (smoothed) soft targets. ``last_lam`` / ``last_mode`` record the last :meth:`mix_clip` (for logging).
    """

    def __init__(
        self,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        label_smoothing: float = 0.0,
        *,
        prob: float = 1.0,
        switch_prob: float = 0.5,
    ) -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ConfigError(f"mixup/cutmix alpha must be >= 0, got {mixup_alpha}, {cutmix_alpha}")
        if not (0 <= prob <= 1 and 0 <= switch_prob <= 1):
            raise ConfigError(f"prob and switch_prob must be in [0, 1], got {prob}, {switch_prob}")
        if not 0 <= label_smoothing < 1:
            raise ConfigError(f"label smoothing must be in [0, 1), got {label_smoothing!r}")
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.label_smoothing = float(label_smoothing)
        self.prob, self.switch_prob = float(prob), float(switch_prob)
        self.last_lam, self.last_mode = 1.0, "none"

    @property
    def enabled(self) -> bool:
        """Whether any mixing is configured (an alpha > 0 and ``prob > 0``)."""
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def mix_clip(self, clips: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
        """``clips [B, C, T, H, W]`` → ``(mixed clips, lam)``: ``lam`` is the weight of each clip's own content
        (1.0 when the batch is not mixed). ``generator``: the source of every draw (default: torch's global RNG)."""
        if clips.ndim != 5:
            raise ShapeError(f"mixup/cutmix expects clips [B, C, T, H, W], got {tuple(clips.shape)}")
        self.last_lam, self.last_mode = 1.0, "none"
        if not self.enabled or (self.prob < 1 and float(torch.rand((), generator=generator)) >= self.prob):
            return clips, 1.0
        use_cutmix = self.cutmix_alpha > 0 and (
            self.mixup_alpha <= 0 or float(torch.rand((), generator=generator)) < self.switch_prob
        )
        lam = _beta(self.cutmix_alpha if use_cutmix else self.mixup_alpha, generator)
        if use_cutmix:
            clips, lam = paste_box(clips, cutmix_box(clips.shape[-2], clips.shape[-1], lam, generator))
        else:
            clips = lam * clips + (1.0 - lam) * clips.flip(0)
        self.last_lam, self.last_mode = lam, "cutmix" if use_cutmix else "mixup"
        return clips, lam

    def mix_targets(
        self, targets: Targets, outputs: torch.Tensor | Mapping[str, torch.Tensor] | int, lam: float
    ) -> Targets:
        """Soft targets ``lam * y + (1 - lam) * y.flip(0)`` of :func:`smooth_targets` ``(targets)``.

        ``targets``: class indices ``[B]`` or soft targets ``[B, K]``, or a per-head dict of them (EPIC
        verb / noun); ``outputs``: the model's logits ``[B, K]`` (or per-head dict), of which only ``K`` is
        read, or ``K`` itself.
        """
        if isinstance(targets, dict):
            if not isinstance(outputs, Mapping):
                raise InputError(f"per-head targets {sorted(targets)} need per-head outputs")
            return {k: self.mix_targets(v, outputs[k], lam) for k, v in targets.items() if k in outputs}
        if isinstance(outputs, Mapping):
            raise InputError(f"one targets tensor for per-head outputs {sorted(outputs)}")
        num_classes = outputs if isinstance(outputs, int) else int(outputs.shape[-1])
        soft = smooth_targets(targets, num_classes, self.label_smoothing)
        return soft if lam == 1.0 else lam * soft + (1.0 - lam) * soft.flip(0)

    def __call__(
        self, clips: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both halves: ``clips [B, C, T, H, W]``, ``labels [B]`` (or ``[B, K]``) → ``(clips, targets [B, K])``."""
        clips, lam = self.mix_clip(clips, generator)
        return clips, self.mix_targets(labels.to(clips.device), num_classes, lam)  # type: ignore[return-value]
