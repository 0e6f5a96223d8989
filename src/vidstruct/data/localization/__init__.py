"""Temporal action localization data: annotations of every format joined with a snippet feature store.

- :mod:`.annotations`: ActivityNet-1.3 / HACS / THUMOS14 / EPIC-Kitchens-100 → videos + class names;
- :mod:`.datasets`: whole videos rescaled to ``T`` positions, or sliding windows of ``T`` snippets.
"""

from __future__ import annotations

from vidstruct.data.localization.annotations import FORMATS, LocalizationAnnotations, read_localization_annotations
from vidstruct.data.localization.datasets import (
    RescaledFeatureDataset,
    WindowedFeatureDataset,
    collate_localization,
    join_features,
    open_feature_store,
    window_starts,
)

__all__ = [
    "FORMATS",
    "LocalizationAnnotations",
    "RescaledFeatureDataset",
    "WindowedFeatureDataset",
    "collate_localization",
    "join_features",
    "open_feature_store",
    "read_localization_annotations",
    "window_starts",
]
