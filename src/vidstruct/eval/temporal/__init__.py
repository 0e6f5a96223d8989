"""Temporal action localization metrics, equal to the official ActivityNet toolkit.

- :mod:`.formats`: ActivityNet / HACS ground truth and submissions (validated
  reading, writing) and THUMOS14 detection lines;
- :mod:`.detection`: interpolated AP per class, mAP per tIoU, average mAP
  (``ANETdetection``);
- :mod:`.proposal`: AR@AN and AUC (``ANETproposal``);
- :mod:`.protocols`: the tIoU threshold sets (ActivityNet, THUMOS14, EPIC-Kitchens);
- :mod:`.ranking`: ranking by score with the two tie rules (``stable``, ``official``);
- :mod:`.tiou`: segment tIoU.

Everything takes times in seconds and returns metrics as fractions in [0, 1],
except the proposal AUC, which is in percent as the toolkit reports it.
"""

from __future__ import annotations

from vidstruct.eval.temporal.detection import (
    DetectionResult,
    average_precision_per_class,
    evaluate_detection,
    interpolated_average_precision,
)
from vidstruct.eval.temporal.formats import (
    TemporalGroundTruth,
    TemporalPredictions,
    load_blocked,
    load_ground_truth,
    load_submission,
    submission_entries,
    write_anet_submission,
    write_thumos_detections,
)
from vidstruct.eval.temporal.proposal import ProposalResult, average_recall_vs_avg_nr_proposals, evaluate_proposals
from vidstruct.eval.temporal.protocols import ANET_TIOU, EPIC_TIOU, PROTOCOLS, THUMOS_TIOU, protocol_thresholds
from vidstruct.eval.temporal.ranking import TIE_ORDERS, TieOrder, rank_by_score
from vidstruct.eval.temporal.tiou import paired_tiou, pairwise_tiou

__all__ = [
    "ANET_TIOU",
    "EPIC_TIOU",
    "PROTOCOLS",
    "THUMOS_TIOU",
    "TIE_ORDERS",
    "DetectionResult",
    "ProposalResult",
    "TemporalGroundTruth",
    "TemporalPredictions",
    "TieOrder",
    "average_precision_per_class",
    "average_recall_vs_avg_nr_proposals",
    "evaluate_detection",
    "evaluate_proposals",
    "interpolated_average_precision",
    "load_blocked",
    "load_ground_truth",
    "load_submission",
    "paired_tiou",
    "pairwise_tiou",
    "protocol_thresholds",
    "rank_by_score",
    "submission_entries",
    "write_anet_submission",
    "write_thumos_detections",
]
