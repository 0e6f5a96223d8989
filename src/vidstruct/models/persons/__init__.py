"""Person detectors: torchvision detection models built without downloads, local weights, person filtering.

- :mod:`.builders`: :data:`~.builders.PERSON_DETECTORS`, every torchvision detection model by name (built with
  ``weights=None, weights_backbone=None``) plus vidstruct's small ``fcos_tiny`` (:mod:`.tiny`);
- :mod:`.weights`: a local torchvision state-dict file into such a model (a file of another model is a
  one-line :class:`~vidstruct.errors.CheckpointError` naming the keys that do not fit);
- :mod:`.outputs`: a detector's per-image outputs (pixel boxes, labels, scores) → the person boxes,
  normalized to ``[0, 1]``;
- :mod:`.checkpoint`: the ``vidstruct.person_detector/1`` file that ``vidstruct train`` writes (model name and
  arguments, weights, class names, preprocessing), enough alone to run the detector.

Label convention: index 0 is the background and the person class is label 1, as in COCO (torchvision's
pretrained detectors) and in the detectors vidstruct trains (``classes = ["__background__", "person"]``).
"""

from vidstruct.models.persons.builders import PERSON_DETECTORS, build_person_detector, set_score_threshold
from vidstruct.models.persons.checkpoint import PersonDetectorBundle, load_person_detector, save_person_detector
from vidstruct.models.persons.outputs import PERSON_LABEL, person_detections
from vidstruct.models.persons.weights import load_detector_weights

__all__ = [
    "PERSON_DETECTORS",
    "PERSON_LABEL",
    "PersonDetectorBundle",
    "build_person_detector",
    "load_detector_weights",
    "load_person_detector",
    "person_detections",
    "save_person_detector",
    "set_score_threshold",
]
