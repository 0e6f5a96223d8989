"""RoI features of actor / object boxes on a video backbone's feature map.

Temporal pooling comes first (as in SlowFast's AVA head): the feature map ``[B, C, T', H', W']`` is averaged over
``T'`` to ``[B, C, H', W']``; a two-pathway backbone (SlowFast: a list of maps) has each pathway averaged over its
own ``T'`` and the results concatenated along channels (pathways share ``H' × W'``). Then
``torchvision.ops.roi_align`` (``aligned=True``) samples an ``S × S`` grid inside each box and the grid is
max-pooled to one ``[C]`` vector per box.

Boxes are ``[x1, y1, x2, y2]`` normalized to ``[0, 1]`` of the frame; they are scaled to feature-map cells here,
so the backbone's stride never appears in a caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import roi_align

from vidstruct.errors import ShapeError

__all__ = ["pooled_feature_map", "roi_features"]


def pooled_feature_map(maps: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """``[B, C, T', H', W']`` (or a list of such maps with equal ``H' × W'``) → ``[B, ΣC, H', W']``, time-averaged."""
    if isinstance(maps, torch.Tensor):
        maps = [maps]
    pooled = []
    for m in maps:
        if m.ndim != 5:
            raise ShapeError(f"feature map: expected [B, C, T, H, W], got shape {tuple(m.shape)}")
        pooled.append(m.mean(dim=2))
    if len({p.shape[-2:] for p in pooled}) != 1:
        raise ShapeError(f"feature maps: pathways differ in H x W: {[tuple(p.shape) for p in pooled]}")
    return torch.cat(pooled, dim=1)


def roi_features(feature_map: torch.Tensor, boxes: torch.Tensor, batch_index: torch.Tensor, size: int) -> torch.Tensor:
    """Max-pooled RoIAlign features ``[R, C]`` of ``R`` boxes.

    - ``feature_map``: ``[B, C, H', W']`` (see :func:`pooled_feature_map`);
    - ``boxes``: ``[R, 4]`` normalized ``[x1, y1, x2, y2]``; ``batch_index``: ``[R]`` int, the clip of each box;
    - ``size``: RoIAlign output grid ``size × size`` (bilinear samples chosen adaptively).
    """
    if feature_map.ndim != 4:
        raise ShapeError(f"feature_map: expected [B, C, H, W], got shape {tuple(feature_map.shape)}")
    if boxes.ndim != 2 or boxes.shape[1] != 4 or batch_index.shape != boxes.shape[:1]:
        raise ShapeError(
            f"boxes / batch_index: expected [R, 4] / [R], got {tuple(boxes.shape)} / {tuple(batch_index.shape)}"
        )
    h, w = feature_map.shape[-2:]
    if boxes.shape[0] == 0:
        return feature_map.new_zeros((0, feature_map.shape[1]))
    scale = boxes.new_tensor([w, h, w, h])
    rois = torch.cat([batch_index.to(boxes.dtype)[:, None], boxes * scale], dim=1).float()
    # in float32 whatever the autocast dtype: bf16 keeps 8 bits of a box coordinate (1/4 cell at 64 cells)
    with torch.autocast(feature_map.device.type, enabled=False):
        grid = roi_align(feature_map.float(), rois, (size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    return grid.flatten(2).amax(dim=2).to(feature_map.dtype)
