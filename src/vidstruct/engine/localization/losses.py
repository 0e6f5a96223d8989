"""The training loss of a localizer, as a ``loss_fn`` hook of :func:`vidstruct.engine.trainer.train`.

- BMN: ``BMN.loss`` on :func:`~vidstruct.models.localization.targets.bmn_targets_batch` targets (plus the
  relation loss when the model has the relation head);
- relation head alone (``relation_only``, the second stage): the relation loss only;
- weak_cas: the MIL + background-suppression loss on video-level labels.

Batches are :func:`~vidstruct.data.localization.collate_localization` dicts: ``"features"`` ``[B, C, T]``
float, ``"segments"`` (per item, in ``[0, 1]`` of the item's span), ``"video_labels"`` ``[B, K]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vidstruct.engine.distributed import unwrap
from vidstruct.models.localization.relation import relation_loss, relation_targets
from vidstruct.models.localization.targets import bmn_targets_batch

__all__ = ["make_loss_fn"]

LossFn = Callable[[nn.Module, dict[str, Any], torch.device], torch.Tensor]


def make_loss_fn(kind: str, temporal_scale: int, max_duration: int | None, *, relation_only: bool = False) -> LossFn:
    """``loss_fn(net, batch, device) -> loss`` of a ``kind`` (``"bmn"`` / ``"weak_cas"``) localizer with
    ``temporal_scale`` positions and BMN's ``max_duration`` (positions)."""

    def loss_fn(net: nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
        feats = batch["features"].to(device, non_blocking=True)
        out = net(feats)
        model = unwrap(net)
        if kind == "weak_cas":
            return model.loss(out, batch["video_labels"].to(device))["loss"]
        targets = bmn_targets_batch(
            [(seg, 1.0) for seg in batch["segments"]], temporal_scale=temporal_scale, max_duration=max_duration
        )
        targets = {k: v.to(device) for k, v in targets.items()}
        if relation_only:
            rt = relation_targets(out["proposal_segments"], targets["segments"], targets["segment_mask"])
            rel = {k[4:]: v for k, v in out.items() if k.startswith("rel_")}
            return relation_loss(rel, rt, out["proposal_mask"])["relation"]
        return model.loss(out, targets)["loss"]

    return loss_fn
