"""Config schema of a spatio-temporal action detection experiment (``task: detection``, AVA-style data).

``optim`` and ``train`` mean what they mean for recognition (the engine's
:class:`~vidstruct.engine.settings.OptimSettings` / :class:`~vidstruct.engine.settings.TrainSettings`;
``train.batch_size`` counts keyframe clips). :func:`vidstruct.recipes.detection.run_detection_training` turns
this config into explicit calls. Example (``configs/detection/synth_relation_tiny.yaml``)::

    task: detection
    model:
      backbone: {name: r2plus1d_tiny, widths: [8, 16, 32, 64], input_mode: diff}   # any builder kwargs
      head: relation                # relation (actor-context-object transformer) | roi (SlowFast's AVA head)
      roi_size: 4                   # RoIAlign grid, max-pooled
      dropout: 0.2
      relation: {dim: 64, layers: 2, heads: 4, dropout: 0.1}
    data:
      videos: data/synth_detect/videos            # <video_id>.mp4 ... for every CSV row
      label_map: data/synth_detect/label_map.pbtxt
      train: data/synth_detect/train.csv          # AVA ground truth (no header)
      val: data/synth_detect/val.csv              # validation frame-mAP@0.5 on ground-truth boxes
      sampler: {clip_len: 8, frame_interval: 4, target_fps: 25}
      transform: {size: 64, hflip: true, flip_pairs: [[move_left, move_right]], box_jitter: 0.05}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidstruct.config.schema import SamplerSection, Strict
from vidstruct.engine.settings import OptimSettings, TrainSettings

__all__ = ["DetectionExperimentConfig"]


class BackboneSection(BaseModel):
    """``name`` of a registered video model with a feature map; every other key is a builder argument."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    init_from: str | None = Field(None, description="recognition checkpoint (model.pt) whose backbone weights to load")

    def builder_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DetRelationSection(Strict):
    dim: int = Field(128, ge=8, description="token width")
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    geometry: Literal["absolute", "relative"] = Field(
        "absolute", description="absolute: each token's own box; relative: pairwise box geometry in every attention"
    )


class DetModelSection(Strict):
    backbone: BackboneSection
    head: Literal["roi", "relation"] = "relation"
    roi_size: int = Field(4, ge=1, description="RoIAlign output grid (size x size), then max-pooled")
    dropout: float = Field(0.2, ge=0, lt=1)
    relation: DetRelationSection = Field(default_factory=DetRelationSection)

    @property
    def name(self) -> str:
        """The backbone's registry name (what ``config show``'s model check builds against)."""
        return self.backbone.name

    def builder_kwargs(self) -> dict[str, Any]:
        """The backbone's builder arguments (the detector's own are typed fields above)."""
        return self.backbone.builder_kwargs()


class DetTransformSection(Strict):
    size: int = Field(112, ge=16, description="frames are resized to size x size pixels")
    mean: list[float] = [0.45, 0.45, 0.45]
    std: list[float] = [0.225, 0.225, 0.225]
    hflip: bool = False
    flip_pairs: list[tuple[str, str]] = Field(
        default_factory=list, description="class-name pairs whose labels swap when a flip mirrors a clip"
    )
    box_jitter: float = Field(0.0, ge=0, lt=0.5, description="corner jitter, fraction of the box width / height")


class DetDataSection(Strict):
    videos: str = Field(description="folder with <video_id>.<ext> for every video of the CSVs")
    label_map: str = Field(description="AVA label map (item { name id } or label { name label_id })")
    train: str = Field(description="AVA ground-truth CSV of the training keyframes")
    val: str | None = Field(None, description="AVA ground-truth CSV of the validation keyframes")
    exclusions: str | None = Field(None, description="excluded-timestamps CSV (video_id, timestamp) of val")
    objects: str | None = Field(None, description="object boxes per keyframe (AVA proposal CSV) → object tokens")
    sampler: SamplerSection = Field(default_factory=lambda: SamplerSection(clip_len=8, frame_interval=4))
    transform: DetTransformSection = Field(default_factory=DetTransformSection)
    num_workers: int = Field(0, ge=0)
    on_decode_error: Literal["raise", "skip"] = "raise"


class DetEvalSection(Strict):
    batch_size: int = Field(8, ge=1)


class DetectionExperimentConfig(Strict):
    """A spatio-temporal action detection experiment (``vidstruct train`` dispatches on ``task``)."""

    task: Literal["detection"] = "detection"
    model: DetModelSection
    data: DetDataSection
    optim: OptimSettings = Field(default_factory=lambda: OptimSettings(name="adamw", lr=1e-3, weight_decay=1e-4))
    train: TrainSettings = Field(default_factory=TrainSettings)
    eval: DetEvalSection = Field(default_factory=DetEvalSection)
