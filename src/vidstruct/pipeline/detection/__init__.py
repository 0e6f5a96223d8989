"""Spatio-temporal action detection, video in, actors and actions out.

- :mod:`.actions` — :func:`detect_actions`: keyframes → person boxes → action probabilities, track ids;
- :mod:`.tracking` — :class:`IouTracker`, greedy IoU track ids across keyframes;
- :mod:`.render` — :func:`render_detections`, a preview mp4 with boxes and top labels;
- :mod:`.evaluate` — scoring a keyframe dataset and frame-mAP@0.5 (training validation, benchmarks).
"""

from vidstruct.pipeline.detection.actions import (
    ActorDetection,
    DetectionResult,
    KeyframeDetections,
    detect_actions,
    keyframe_times,
)
from vidstruct.pipeline.detection.tracking import IouTracker

__all__ = [
    "ActorDetection",
    "DetectionResult",
    "IouTracker",
    "KeyframeDetections",
    "detect_actions",
    "keyframe_times",
]
