"""Typed schemas of experiment configs (validated once, at the CLI edge).

Sections:
- ``model``: ``name`` of a registered model plus that builder's keyword
  arguments (checked against its signature by :func:`resolve_model_kwargs`);
- ``data``: datasets, clip sampling and transforms;
- ``optim``: optimizer and learning-rate schedule;
- ``train``: loop settings (steps, batch, AMP, checkpoints, regularization);
- ``test``: multi-view testing.

Code below the CLI never sees these objects whole: the CLI passes the fields
each function needs as explicit arguments.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base of every schema section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ModelSection(BaseModel):
    """``name`` of a registered model; every other key is a builder argument."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    init_from: str | None = Field(None, description="checkpoint whose backbone weights initialize the model")

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
    sampler: SamplerSection = SamplerSection()
    transform: TransformSection = TransformSection()
    num_workers: int = Field(2, ge=0)
    on_decode_error: Literal["skip", "substitute", "raise"] = "skip"


class OptimSection(Strict):
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0)
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(1e-4, ge=0)
    no_decay_norm_bias: bool = True
    layer_decay: float | None = Field(None, gt=0, le=1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    warmup_start_factor: float = Field(0.01, gt=0, le=1)
    milestones: list[int] = []
    gamma: float = Field(0.1, gt=0)
    min_lr: float = Field(0.0, ge=0)


class TrainSection(Strict):
    max_steps: int = Field(1000, ge=1)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    clip_grad: float | None = Field(None, gt=0)
    amp: Literal["none", "bf16", "fp16"] = "none"
    device: str = "auto"
    seed: int = 0
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    mixup_alpha: float = Field(0.0, ge=0)
    cutmix_alpha: float = Field(0.0, ge=0)
    ema_decay: float | None = Field(None, gt=0, lt=1)
    precise_bn_batches: int = Field(0, ge=0)
    channels_last: bool = True
    ckpt_every: int = Field(200, ge=1)
    eval_every: int = Field(0, ge=0)
    log_every: int = Field(10, ge=1)
    keep_checkpoints: int = Field(2, ge=1, description="step checkpoints kept in RUN/checkpoints")
    tensorboard: bool = Field(True, description="write TensorBoard events to RUN/tb")


class TestSection(Strict):
    temporal_views: int = Field(1, ge=1)
    spatial_crops: Literal[1, 3] = 1
    batch_size: int = Field(4, ge=1)


class ExperimentConfig(Strict):
    """A recognition experiment (train / test / predict / export)."""

    model: ModelSection
    data: DataSection = DataSection()
    optim: OptimSection = OptimSection()
    train: TrainSection = TrainSection()
    test: TestSection = TestSection()
