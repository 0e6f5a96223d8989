"""EPIC-Kitchens-100 evaluation, equal to the challenges' official scripts.

- :mod:`.labels`: ground-truth segments from the EPIC-100 CSV or a pickled table (restricted unpickler);
- :mod:`.results`: recognition results files (``.pkl`` / ``.pt`` / ``.npz``);
- :mod:`.recognition`: action recognition (challenge C1, ``evaluate.py``): verb / noun / action top-1 / top-5,
  tail classes, unseen participants;
- :mod:`.detection`: action detection (challenge C2, ``evaluate_detection_json_ek100.py``): mAP per tIoU
  0.1:0.1:0.5 for verbs, nouns and actions.
"""

from __future__ import annotations

from vidstruct.eval.epic.detection import (
    detection_entries,
    evaluate_epic_detection,
    load_detection_submission,
    write_detection_submission,
)
from vidstruct.eval.epic.labels import EpicLabels, load_epic_labels
from vidstruct.eval.epic.recognition import evaluate_epic_recognition
from vidstruct.eval.epic.results import RecognitionResults, load_recognition_results

__all__ = [
    "EpicLabels",
    "RecognitionResults",
    "detection_entries",
    "evaluate_epic_detection",
    "evaluate_epic_recognition",
    "load_detection_submission",
    "load_epic_labels",
    "load_recognition_results",
    "write_detection_submission",
]
