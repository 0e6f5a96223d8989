"""MoSI: self-supervised motion learning from static images (Huang et al., CVPR 2021).

A still image becomes short clips of a crop window sliding over it at known speeds; a video
network learns motion by classifying the speed. Modules:

- :mod:`~vidstruct.ssl.mosi.labels` — speed sets and joint / separate labels;
- :mod:`~vidstruct.ssl.mosi.generator` — image → clips (standardize, flip, move, jitter, mask);
- :mod:`~vidstruct.ssl.mosi.mask` — the static mask; :mod:`~vidstruct.ssl.mosi.color` — per-clip colour jitter;
- :mod:`~vidstruct.ssl.mosi.sources` — image folders / lists, video frames, procedural textures;
- :mod:`~vidstruct.ssl.mosi.dataset` — the dataset and its collate.
"""

from __future__ import annotations

from vidstruct.ssl.mosi.color import ClipColorJitter
from vidstruct.ssl.mosi.dataset import MoSIDataset, mosi_collate
from vidstruct.ssl.mosi.errors import MoSIError
from vidstruct.ssl.mosi.generator import MoSIClips, MoSIGenerator, window_path
from vidstruct.ssl.mosi.labels import SEPARATE_HEADS, MotionLabelSpace
from vidstruct.ssl.mosi.mask import MaskBox, apply_static_mask, sample_mask_box
from vidstruct.ssl.mosi.procedural import procedural_image
from vidstruct.ssl.mosi.sources import (
    ImageFileSource,
    ImageSource,
    ProceduralSource,
    VideoFrameSource,
    load_image,
)

__all__ = [
    "SEPARATE_HEADS",
    "ClipColorJitter",
    "ImageFileSource",
    "ImageSource",
    "MaskBox",
    "MoSIClips",
    "MoSIDataset",
    "MoSIError",
    "MoSIGenerator",
    "MotionLabelSpace",
    "ProceduralSource",
    "VideoFrameSource",
    "apply_static_mask",
    "load_image",
    "mosi_collate",
    "procedural_image",
    "sample_mask_box",
    "window_path",
]
