"""Shot detectors by name, for profiles and the command line: ``transnetv2`` (default) and ``content``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidstruct.pipeline.shots.base import ShotDetector
from vidstruct.pipeline.shots.content import ContentShotDetector
from vidstruct.pipeline.shots.transnet import TransNetV2Detector
from vidstruct.registry import Registry

__all__ = ["DEFAULT_SHOT_DETECTOR", "SHOT_DETECTORS", "build_shot_detector"]

DEFAULT_SHOT_DETECTOR = "transnetv2"

#: name → detector class; settings are the class's keyword arguments (unknown ones are a ConfigError)
SHOT_DETECTORS: Registry[Callable[..., ShotDetector]] = Registry("shot detector")
SHOT_DETECTORS.register("transnetv2")(TransNetV2Detector)
SHOT_DETECTORS.register("content")(ContentShotDetector)


def build_shot_detector(name: str = DEFAULT_SHOT_DETECTOR, /, **settings: Any) -> ShotDetector:
    """The detector registered as ``name`` with ``settings``; unknown names are a RegistryError with close matches."""
    return SHOT_DETECTORS.build(name, **settings)
