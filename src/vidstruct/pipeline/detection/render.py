"""A preview video of action detections: each frame shows the boxes, track ids and top labels of the nearest
keyframe (within half a keyframe interval), drawn with ``torchvision.utils.draw_bounding_boxes``.

Streamed: frames are decoded one at a time (:meth:`vidstruct.io.VideoReader.iter_frames`, downscaled to
``short_side``) and encoded as they are drawn (:func:`vidstruct.io.write_video`, H.264, written atomically), at
most ``max_fps`` frames per second of video.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import draw_bounding_boxes

from vidstruct.io.reader import VideoReader
from vidstruct.io.writer import write_video
from vidstruct.pipeline.detection.actions import DetectionResult

__all__ = ["render_detections"]

_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]  # fmt: skip


def _labels(result: DetectionResult, min_prob: float, top: int) -> list[list[tuple[torch.Tensor, str, tuple]]]:
    """Per keyframe: ``(box [4], text, colour)`` of each actor."""
    out = []
    for kf in result.keyframes:
        items = []
        for a in kf.actors:
            acts = result.actions(a, min_prob)[:top]
            text = f"#{a.track_id} " + (", ".join(f"{x['label']} {x['prob']:.2f}" for x in acts) or "-")
            items.append((torch.tensor(a.box), text, _PALETTE[a.track_id % len(_PALETTE)]))
        out.append(items)
    return out


def render_detections(
    result: DetectionResult,
    out: str | Path,
    *,
    min_prob: float = 0.5,
    top: int = 2,
    short_side: int = 360,
    max_fps: float = 15.0,
) -> Path:
    """Write the preview of ``result`` (its video) to ``out`` (.mp4); returns the path."""
    reader = VideoReader(result.video, short_side=short_side, threads=0)
    fps = reader.fps
    step = max(1, int(round(fps / max_fps)))
    indices = np.arange(0, reader.num_frames, step)
    times = reader.times_s[indices]
    key_times = np.array([kf.time_s for kf in result.keyframes])
    labels = _labels(result, min_prob, top)
    half = result.every_s / 2

    def frames() -> Iterator[np.ndarray]:
        try:
            for (_, frame), t in zip(reader.iter_frames(indices), times):
                h, w = (frame.shape[0] // 2) * 2, (frame.shape[1] // 2) * 2
                image = frame[:h, :w].permute(2, 0, 1).contiguous()
                if len(key_times):
                    k = int(np.argmin(np.abs(key_times - t)))
                    items = labels[k] if abs(key_times[k] - t) <= half + 1e-6 else []
                    if items:
                        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
                        boxes = torch.stack([b for b, _, _ in items]) * scale
                        image = draw_bounding_boxes(
                            image, boxes, labels=[s for _, s, _ in items], colors=[c for _, _, c in items], width=2
                        )
                yield image.permute(1, 2, 0).numpy()
        finally:
            reader.close()

    return write_video(out, frames(), fps / step)
