"""Annotation file readers, one module per dataset format.

Recognition readers return :class:`~vidstruct.data.records.ClipList`
(a ``list[ClipRecord]`` with ``class_names``) and are registered in
:data:`~vidstruct.registry.DATASETS` (importing this package registers them):

============== ======================================= ==============================
name           reader                                  annotations
============== ======================================= ==============================
kinetics       :func:`read_video_list`                 ``<path> <label>`` list
kinetics_csv   :func:`read_kinetics_csv`               official Kinetics CSV
ssv2           :func:`read_ssv2`                       SSv2 train/validation/test JSON
ucf101         :func:`read_ucf101`                     trainlist0N / testlist0N
hmdb51         :func:`read_hmdb51`                     directory of split files
epic_kitchens  :func:`read_epic_kitchens`              EPIC_100_{train,validation}.csv
============== ======================================= ==============================

Localization readers return :class:`~vidstruct.data.records.UntrimmedVideo`
lists (:func:`read_activitynet`, :func:`read_hacs`, :func:`read_thumos14`);
AVA readers return :class:`~vidstruct.data.records.BoxAnnotation` lists.
Every malformed input raises :class:`~vidstruct.errors.AnnotationError` naming
the file, the line (or JSON location) and the field.
"""

from __future__ import annotations

from vidstruct.data.formats.activitynet import read_activitynet, read_hacs, taxonomy_leaves
from vidstruct.data.formats.ava import (
    AvaLabel,
    KeyframeBox,
    group_by_keyframe,
    merge_boxes,
    read_ava,
    read_ava_excluded,
    read_ava_label_map,
    read_ava_proposals,
)
from vidstruct.data.formats.epic_kitchens import EpicClass, parse_timestamp, read_epic_classes, read_epic_kitchens
from vidstruct.data.formats.hmdb51 import read_hmdb51
from vidstruct.data.formats.kinetics import kinetics_file_name, read_kinetics_csv, read_video_list
from vidstruct.data.formats.ssv2 import normalize_template, read_ssv2, read_ssv2_labels
from vidstruct.data.formats.thumos14 import read_thumos14
from vidstruct.data.formats.ucf101 import read_ucf101, read_ucf_class_index
from vidstruct.registry import DATASETS

__all__ = [
    "DATASETS",
    "AvaLabel",
    "EpicClass",
    "KeyframeBox",
    "group_by_keyframe",
    "kinetics_file_name",
    "merge_boxes",
    "normalize_template",
    "parse_timestamp",
    "read_activitynet",
    "read_ava",
    "read_ava_excluded",
    "read_ava_label_map",
    "read_ava_proposals",
    "read_epic_classes",
    "read_epic_kitchens",
    "read_hacs",
    "read_hmdb51",
    "read_kinetics_csv",
    "read_ssv2",
    "read_ssv2_labels",
    "read_thumos14",
    "read_ucf101",
    "read_ucf_class_index",
    "read_video_list",
    "taxonomy_leaves",
]
