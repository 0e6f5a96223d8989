"""A detector's per-image outputs → person boxes normalized to ``[0, 1]``."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vidstruct.errors import ShapeError

__all__ = ["PERSON_LABEL", "person_detections"]

PERSON_LABEL = 1
"""The person class: COCO's label 1 in torchvision's detectors, and label 1 of vidstruct's person detectors."""


def person_detections(
    output: Mapping[str, torch.Tensor],
    image_hw: tuple[int, int],
    *,
    person_label: int = PERSON_LABEL,
    min_score: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(boxes, scores)`` of the persons in one image's detector ``output``.

    ``output``: ``boxes`` float ``[N, 4]`` ``[x1, y1, x2, y2]`` in pixels of an image of ``image_hw = (H, W)``,
    ``labels`` int ``[N]``, ``scores`` float ``[N]`` (probabilities). Kept: ``labels == person_label`` and
    ``scores >= min_score``; boxes are divided by ``(W, H)``, clipped to ``[0, 1]``, and those left with no
    area (``x1 >= x2`` or ``y1 >= y2``) dropped. Returns float32 CPU ``boxes [M, 4]`` and ``scores [M]``,
    highest score first.
    """
    boxes, labels, scores = output["boxes"], output["labels"], output["scores"]
    if boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != scores.shape or labels.shape[0] != boxes.shape[0]:
        raise ShapeError(
            f"person_detections: expected boxes [N, 4], labels [N], scores [N], got {tuple(boxes.shape)}, "
            f"{tuple(labels.shape)}, {tuple(scores.shape)}"
        )
    height, width = image_hw
    keep = (labels == person_label) & (scores >= min_score)
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    kept = (boxes[keep].detach().float().cpu() / scale).clamp_(0.0, 1.0)
    kept_scores = scores[keep].detach().float().cpu()
    has_area = (kept[:, 2] > kept[:, 0]) & (kept[:, 3] > kept[:, 1])
    kept, kept_scores = kept[has_area], kept_scores[has_area]
    order = torch.argsort(kept_scores, descending=True, stable=True)
    return kept[order].contiguous(), kept_scores[order].contiguous()
