"""Temporal action localization models: BMN (+ proposal relation encoding) and a weakly supervised CAS model.

- :mod:`.bm_layer`: the boundary-matching layer (sparse gather; dense reference; fused with BMN's conv3d);
- :mod:`.bmn`: BMN, registered as ``"bmn"``;
- :mod:`.targets` / :mod:`.losses`: BMN training targets from GT segments and its losses;
- :mod:`.relation`: self-attention across a video's proposals (``"relation_head"``);
- :mod:`.weak`: BaS-Net-style weakly supervised model (``"weak_cas"``) and MIL losses;
- :mod:`.decode`: model outputs → ``[start_s, end_s, score]`` segments per video.

Pure torch; everything takes snippet features ``[B, C, T]``.
"""

from __future__ import annotations

from vidstruct.models.localization.bm_layer import BMGeometry, BMLayer, BoundaryMatchingConv, DenseBMLayer
from vidstruct.models.localization.bmn import BMN, bmn
from vidstruct.models.localization.decode import decode_bmn, decode_cas
from vidstruct.models.localization.relation import RelationHead
from vidstruct.models.localization.targets import bmn_targets, bmn_targets_batch
from vidstruct.models.localization.weak import WeakCAS

__all__ = [
    "BMGeometry",
    "BMLayer",
    "BMN",
    "BoundaryMatchingConv",
    "DenseBMLayer",
    "RelationHead",
    "WeakCAS",
    "bmn",
    "bmn_targets",
    "bmn_targets_batch",
    "decode_bmn",
    "decode_cas",
]
