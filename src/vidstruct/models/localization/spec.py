"""What a localizer checkpoint records about turning its outputs into segments (like :mod:`vidstruct.models.spec`
records the preprocessing of a recognition model's input).

:class:`PostprocessSettings` are the settings of the post-processing chain
(:mod:`vidstruct.eval.localization`): Soft-NMS, how many proposals / segments
to keep, class fusion and the weak model's CAS decoding. :func:`class_map`
maps the localization classes onto the backbone's class probabilities for
class fusion. Plain data and validation only: the chain itself lives above
the models layer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from vidstruct.errors import ConfigError

__all__ = ["FUSIONS", "Fusion", "PostprocessSettings", "class_map"]

Fusion = Literal["snippet", "video", "cas", "none"]
FUSIONS: tuple[str, ...] = ("snippet", "video", "cas", "none")


@dataclass
class PostprocessSettings:
    """Soft-NMS and fusion settings (stored in the localizer checkpoint; the chain is
    :mod:`vidstruct.eval.localization.chain`).

    ``nms``: ``"gaussian"`` / ``"linear"`` / ``"hard"``; ``sigma``: Gaussian width; ``low_threshold`` /
    ``high_threshold``: BMN's width-adaptive tIoU threshold (both ``None``: the fixed ``iou_threshold``);
    ``max_proposals``: proposals kept per video; ``max_segments``: detections kept per video;
    ``fusion``: ``"snippet"`` / ``"video"`` (backbone probabilities inside each proposal / over the whole item),
    ``"cas"`` (the weak model's own classes) or ``"none"`` (proposals only); ``fusion_top_k``: classes per
    proposal; ``peak_ratio``: BMN boundary candidates; ``cas_*``, ``class_threshold``, ``video_weight``: the weak
    model's CAS decoding (:func:`vidstruct.eval.localization.decode.decode_cas`).
    """

    # the one declaration of these settings: the localization config's ``postprocess`` section is this class
    # (pydantic validates it with the ranges below and refuses unknown keys)
    __pydantic_config__ = ConfigDict(extra="forbid")

    nms: Literal["gaussian", "linear", "hard"] = "gaussian"
    sigma: Annotated[float, Field(gt=0)] = 0.4
    iou_threshold: Annotated[float, Field(ge=0, le=1)] = 0.0
    low_threshold: Annotated[float | None, Field(ge=0, le=1)] = 0.5
    high_threshold: Annotated[float | None, Field(ge=0, le=1)] = 0.9
    max_proposals: Annotated[int, Field(ge=1)] = 100
    max_segments: Annotated[int, Field(ge=1)] = 100
    fusion: Fusion = "snippet"
    fusion_top_k: Annotated[int, Field(ge=1)] = 2
    peak_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5
    cas_thresholds: list[float] = field(default_factory=lambda: [0.025 * i for i in range(1, 20)])
    class_threshold: Annotated[float, Field(ge=0, le=1)] = 0.2
    video_weight: Annotated[float, Field(ge=0)] = 0.2
    cas_nms_iou: Annotated[float, Field(gt=0, le=1)] = 0.7

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"postprocess.fusion: expected one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.nms not in ("gaussian", "linear", "hard"):
            raise ConfigError(f"postprocess.nms: expected gaussian, linear or hard, got {self.nms!r}")
        if self.max_proposals < 1 or self.max_segments < 1 or self.fusion_top_k < 1:
            raise ConfigError("postprocess: max_proposals, max_segments and fusion_top_k must be ≥ 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PostprocessSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"postprocess: unknown key(s) {unknown} (known: {', '.join(sorted(names))})")
        return cls(**values)


def class_map(classes: list[str], backbone_classes: list[str] | None, fusion: str) -> np.ndarray | None:
    """Column of each localization class in the backbone's probabilities (``None`` for fusions that need none).

    Raises :class:`ConfigError` when ``snippet`` / ``video`` fusion is asked for and a class is missing.
    """
    if fusion not in ("snippet", "video"):
        return None
    if not backbone_classes:
        raise ConfigError(f"postprocess.fusion={fusion!r} needs backbone class probabilities; the features have none")
    index = {c: i for i, c in enumerate(backbone_classes)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise ConfigError(
            f"postprocess.fusion={fusion!r}: localization classes {missing[:3]} are not classes of the backbone "
            f"({len(backbone_classes)} classes); use fusion 'none' or a backbone trained on these classes"
        )
    return np.asarray([index[c] for c in classes], dtype=np.int64)
