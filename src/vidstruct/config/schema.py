"""Typed schemas of experiment configs (validated once, at the CLI edge).

Sections:
- ``model``: ``name`` of a registered model plus that builder's keyword
  arguments (checked against its signature by :func:`~vidstruct.config.tasks.check_model_kwargs`);
- ``data``: datasets, clip sampling and transforms;
- ``optim``: optimizer and learning-rate schedule (:class:`~vidstruct.engine.settings.OptimSettings`);
- ``train``: loop settings (steps, batch, AMP, checkpoints, regularization;
  :class:`~vidstruct.engine.settings.TrainSettings`);
- ``test``: multi-view testing.

``optim`` and ``train`` *are* the engine's settings classes (declared once, with their constraints, in
:mod:`vidstruct.engine.settings`); the other sections exist only here. Only :mod:`vidstruct.recipes`
(and the CLI) see these objects: the recipes pass the fields each function needs as explicit arguments.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidstruct.engine.settings import OptimSettings, TrainSettings


class Strict(BaseModel):
    """Base of every schema section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class LossWeights(Strict):
    """Weights of the per-head cross-entropy losses (EPIC-100: verb and noun); the loss is their weighted sum."""

    verb: float = Field(1.0, ge=0)
    noun: float = Field(1.0, ge=0)


class HeadSection(Strict):
    """The classifier on the backbone: ``linear`` (the model's own) or ``epic_verb_noun`` (EPIC-Kitchens-100
    verb and noun heads on the backbone's pooled features; class tables from ``data.verb_classes`` /
    ``data.noun_classes``; action scores = verb x noun probabilities)."""

    name: Literal["linear", "epic_verb_noun"] = "linear"
    dropout: float | None = Field(None, ge=0, lt=1, description="before the heads (default: model.dropout, else 0.5)")
    loss_weights: LossWeights = Field(default_factory=LossWeights)


class ModelSection(BaseModel):
    """``name`` of a registered model; every other key is a builder argument (``head`` excepted)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    init_from: str | None = Field(None, description="checkpoint whose backbone weights initialize the model")
    head: HeadSection = Field(default_factory=HeadSection)

    def builder_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetSection(BaseModel):
    """``format`` of a registered dataset reader plus its arguments."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    format: str
    annotations: str
    root: str = ""

    def reader_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SamplerSection(Strict):
    """Clip sampling in mmaction2's vocabulary (frames, not seconds)."""

    clip_len: int = Field(8, ge=1)
    frame_interval: int = Field(1, ge=1)
    num_clips: int = Field(1, ge=1)
    target_fps: float | None = Field(None, gt=0)


class TransformSection(Strict):
    """Spatial preprocessing; mean/std are in [0, 1] pixel units (RGB)."""

    short_side: int = Field(128, ge=8)
    crop_size: int = Field(112, ge=8)
    mean: list[float] = [0.45, 0.45, 0.45]
    std: list[float] = [0.225, 0.225, 0.225]
    random_resized_crop: bool = False
    scale: tuple[float, float] = (0.25, 1.0)
    hflip: bool = False
    flip_pairs: list[tuple[str, str]] = Field(
        default_factory=list,
        description="class-name pairs whose labels swap when hflip mirrors a clip (e.g. move_left / move_right)",
    )
    color_jitter: float = Field(0.0, ge=0)
    randaugment: bool = False
    random_erasing: float = Field(0.0, ge=0, le=1)


class DataSection(Strict):
    train: DatasetSection | None = None
    val: DatasetSection | None = None
    test: DatasetSection | None = None
    classes: str | None = Field(None, description="file with one class name per line")
    verb_classes: str | None = Field(None, description="EPIC_100_verb_classes.csv (id,key,instances,category)")
    noun_classes: str | None = Field(None, description="EPIC_100_noun_classes.csv (id,key,instances,category)")
    sampler: SamplerSection = Field(default_factory=SamplerSection)
    transform: TransformSection = Field(default_factory=TransformSection)
    num_workers: int = Field(2, ge=0)
    on_decode_error: Literal["skip", "substitute", "raise"] = "skip"


class TestSection(Strict):
    temporal_views: int = Field(1, ge=1)
    spatial_crops: Literal[1, 3] = 1
    batch_size: int = Field(4, ge=1)


class ExperimentConfig(Strict):
    """A recognition experiment (train / test / predict / export)."""

    task: Literal["recognition"] = "recognition"
    model: ModelSection
    data: DataSection = Field(default_factory=DataSection)
    optim: OptimSettings = Field(default_factory=OptimSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    test: TestSection = Field(default_factory=TestSection)
