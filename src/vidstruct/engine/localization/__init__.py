"""Temporal action localization training on snippet features: config schema, recipe and validation.

- :mod:`.config`: :class:`LocalizationExperimentConfig` (``task: localization``);
- :mod:`.recipe`: :func:`run_localization_training` (the engine's loop with localization hooks);
- :mod:`.evaluate`: AR@AN / AUC / mAP of a localizer on a dataset via :mod:`vidstruct.eval.temporal`.
"""

from __future__ import annotations

from vidstruct.engine.localization.config import LocalizationExperimentConfig

__all__ = ["LocalizationExperimentConfig"]
