"""Post-processing of temporal localization models' outputs (pure numpy / torch, no model runs).

- :mod:`.decode`: model outputs → ``[start_s, end_s, score]`` proposals (BMN, relation head, weak CAS);
- :mod:`.chain`: one item's proposals → Soft-NMS → class fusion (:func:`~.chain.decode_item`), windows merged
  (:func:`~.chain.merge_items`).

Running a localizer over a video's snippet features is :mod:`vidstruct.pipeline.localization_chain`.
"""

from __future__ import annotations

from vidstruct.eval.localization.chain import Localization, decode_item, merge_items
from vidstruct.eval.localization.decode import decode_bmn, decode_cas

__all__ = ["Localization", "decode_bmn", "decode_cas", "decode_item", "merge_items"]
