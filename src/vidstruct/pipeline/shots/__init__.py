"""Shot detection: streaming detectors fed decoded frames, returning contiguous shots with confidences.

- :mod:`.base`: the streaming protocol (:class:`ShotDetector`: ``push`` chunks, ``close``) and :class:`Shot`;
- :mod:`.transnet`: :class:`TransNetV2Detector`, the learned default (TransNetV2, ``48 × 27`` frames);
- :mod:`.content`: :class:`ContentShotDetector`, HSV histogram change with an adaptive threshold;
- :mod:`.registry`: :func:`build_shot_detector` by name (``transnetv2``, ``content``);
- :mod:`.frames`: :func:`detect_shots`, decode a file and run one detector on it.
"""

from vidstruct.pipeline.shots.base import Shot, ShotDetector, ShotResult
from vidstruct.pipeline.shots.content import ContentShotDetector
from vidstruct.pipeline.shots.frames import detect_shots, iter_detector_frames
from vidstruct.pipeline.shots.registry import DEFAULT_SHOT_DETECTOR, SHOT_DETECTORS, build_shot_detector
from vidstruct.pipeline.shots.transnet import TransNetV2Detector

__all__ = [
    "DEFAULT_SHOT_DETECTOR",
    "SHOT_DETECTORS",
    "ContentShotDetector",
    "Shot",
    "ShotDetector",
    "ShotResult",
    "TransNetV2Detector",
    "build_shot_detector",
    "detect_shots",
    "iter_detector_frames",
]
