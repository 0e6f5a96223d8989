"""Keyframe clips for spatio-temporal action detection (AVA-style): records, the clip dataset and its collate.

- :mod:`.records` — AVA rows → one :class:`KeyframeRecord` per keyframe (same-person rows merged into one
  multi-label box), videos resolved and checked;
- :mod:`.dataset` — :class:`KeyframeClipDataset`: a clip centred on each keyframe with its boxes and multi-hot
  targets; box jitter and horizontal flip in training; :func:`collate_keyframes` pads the boxes per batch.
"""

from vidstruct.data.detection.dataset import KeyframeClipDataset, collate_keyframes, keyframe_clip_times
from vidstruct.data.detection.records import KeyframeRecord, keyframe_records, resolve_videos

__all__ = [
    "KeyframeClipDataset",
    "KeyframeRecord",
    "collate_keyframes",
    "keyframe_clip_times",
    "keyframe_records",
    "resolve_videos",
]
