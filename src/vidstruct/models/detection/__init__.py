"""Spatio-temporal action detection: a video backbone's feature map, RoI features per actor box, and either the
plain RoI head (SlowFast's AVA head) or the actor–context–object relation module; multi-label sigmoid outputs.

- :mod:`.roi` — the backbone feature map pooled over time, ``torchvision.ops.roi_align`` per box;
- :mod:`.relation` — transformer blocks in which actor tokens attend to context, other actors and objects;
- :mod:`.detector` — :class:`ActionDetector` (backbone + head) and its builder;
- :mod:`.checkpoint` — ``RUN/detector.pt`` (format ``vidstruct.detector/1``).
"""

from vidstruct.models.detection.checkpoint import DetectorBundle, load_detector, save_detector
from vidstruct.models.detection.detector import HEAD_KINDS, ActionDetector, build_action_detector
from vidstruct.models.detection.relation import RelationModule
from vidstruct.models.detection.roi import pooled_feature_map, roi_features

__all__ = [
    "HEAD_KINDS",
    "ActionDetector",
    "DetectorBundle",
    "RelationModule",
    "build_action_detector",
    "load_detector",
    "pooled_feature_map",
    "roi_features",
    "save_detector",
]
