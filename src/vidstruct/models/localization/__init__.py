"""Temporal action localization models: BMN (+ proposal relation encoding) and a weakly supervised CAS model.

- :mod:`.bm_layer`: the boundary-matching layer (sparse gather; dense reference; fused with BMN's conv3d);
- :mod:`.bmn`: BMN, registered as ``"bmn"``;
- :mod:`.targets` / :mod:`.losses`: BMN training targets from GT segments and its losses;
- :mod:`.relation`: self-attention across a video's proposals (``"relation_head"``);
- :mod:`.weak`: BaS-Net-style weakly supervised model (``"weak_cas"``) and MIL losses;
- :mod:`.spec`: the post-processing settings a localizer checkpoint records (:class:`~.spec.PostprocessSettings`);
- :mod:`.checkpoint`: the localizer checkpoint (``vidstruct.localizer/1``); :mod:`.run`: outputs for inference.

Pure torch; everything takes snippet features ``[B, C, T]``. Decoding outputs into segments and the
post-processing chain are :mod:`vidstruct.eval.localization`; running a localizer over a video's features is
:mod:`vidstruct.pipeline.localization_chain`.
"""

from __future__ import annotations

from vidstruct.models.localization.bm_layer import BMGeometry, BMLayer, BoundaryMatchingConv, DenseBMLayer
from vidstruct.models.localization.bmn import BMN, bmn
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
]
