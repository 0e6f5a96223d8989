"""Track ids across keyframes by greedy IoU matching (a simple tracker, good for 1 Hz keyframes of slow scenes).

At each keyframe, pairs (live track, new box) are taken in decreasing IoU order; a pair is matched when both are
still free and the IoU is at least ``min_iou`` (the track's box is its last matched box). Unmatched boxes start
new tracks (ids 0, 1, 2, ... in order of appearance); a track not matched for more than ``max_gap`` keyframes
ends. It does not model motion, so fast actors (moving more than their own size between keyframes) or crossing
actors can swap or restart ids.
"""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

__all__ = ["IouTracker"]


class IouTracker:
    """Greedy IoU tracker (see module doc); :meth:`update` returns one track id per box."""

    def __init__(self, min_iou: float = 0.3, max_gap: int = 1) -> None:
        self.min_iou, self.max_gap = min_iou, max_gap
        self._next_id = 0
        self._tracks: dict[int, tuple[torch.Tensor, int]] = {}  # id -> (last box [4], keyframes since matched)

    def update(self, boxes: torch.Tensor) -> list[int]:
        """Track ids of ``boxes`` ``[N, 4]`` (normalized ``[x1, y1, x2, y2]``) at the next keyframe."""
        ids = list(self._tracks)
        assigned: list[int | None] = [None] * len(boxes)
        if ids and len(boxes):
            iou = box_iou(torch.stack([self._tracks[i][0] for i in ids]), boxes.float())
            order = torch.argsort(iou.flatten(), descending=True, stable=True)
            used: set[int] = set()
            for flat in order.tolist():
                t, b = divmod(flat, len(boxes))
                if iou[t, b] < self.min_iou:
                    break
                if ids[t] in used or assigned[b] is not None:
                    continue
                assigned[b] = ids[t]
                used.add(ids[t])
        for b, track in enumerate(assigned):
            if track is None:
                assigned[b] = track = self._next_id
                self._next_id += 1
        matched = set(assigned)
        for i in ids:
            if i not in matched:
                box, gap = self._tracks[i]
                if gap + 1 > self.max_gap:
                    del self._tracks[i]
                else:
                    self._tracks[i] = (box, gap + 1)
        for b, track in enumerate(assigned):
            self._tracks[int(track)] = (boxes[b].float().clone(), 0)  # type: ignore[arg-type]
        return [int(t) for t in assigned]  # type: ignore[arg-type]
