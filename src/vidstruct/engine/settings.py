"""Typed settings of the training / evaluation engine: the one declaration of every ``optim`` / ``train`` key.

:class:`OptimSettings` and :class:`TrainSettings` are pydantic dataclasses: each field, its default and its
constraint (``Annotated[int, Field(ge=1)]``) is declared here once. The experiment schemas
(:mod:`vidstruct.config`) use these classes *as* their ``optim`` and ``train`` sections, so a YAML file is
validated against exactly these fields; code that builds settings directly gets the same checks (a bad value
raises :class:`pydantic.ValidationError`, an unknown keyword too). The engine itself never reads a config tree.

Units: learning rates are absolute (per optimizer step, not scaled by batch),
``*_steps`` / ``*_every`` count optimizer steps (one step = ``grad_accum``
micro-batches of ``batch_size`` clips per process).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

__all__ = ["EvalSettings", "OptimSettings", "TrainSettings"]

_STRICT = ConfigDict(extra="forbid")


class _AsDict:
    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (stored in training checkpoints)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(config=_STRICT)
class OptimSettings(_AsDict):
    """Optimizer and per-step learning-rate schedule.

    - ``name``: ``"sgd"`` (momentum, optional Nesterov) or ``"adamw"`` (``betas``);
    - ``no_decay_norm_bias``: parameters with ``ndim <= 1`` (norm weights, biases,
      scalars) get ``weight_decay = 0``;
    - ``layer_decay``: layer-wise LR decay for transformers, ``lr * layer_decay **
      (num_layers + 1 - layer_id)`` (``None``: off);
    - ``schedule``: ``"cosine"`` (to ``min_lr`` at ``max_steps``), ``"step"``
      (multiply by ``gamma`` at each of ``milestones``) or ``"constant"``, after a
      linear warmup from ``lr * warmup_start_factor`` over ``warmup_steps``.
    """

    name: Literal["sgd", "adamw"] = "sgd"
    lr: Annotated[float, Field(gt=0)] = 0.1
    momentum: Annotated[float, Field(ge=0)] = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    no_decay_norm_bias: bool = True
    layer_decay: Annotated[float | None, Field(gt=0, le=1)] = None
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: Annotated[int, Field(ge=0)] = 0
    warmup_start_factor: Annotated[float, Field(gt=0, le=1)] = 0.01
    milestones: list[int] = field(default_factory=list)
    gamma: Annotated[float, Field(gt=0)] = 0.1
    min_lr: Annotated[float, Field(ge=0)] = 0.0


@dataclass(config=_STRICT)
class TrainSettings(_AsDict):
    """The training loop.

    - ``max_steps``: optimizer steps; ``batch_size``: clips per process per
      micro-batch; ``grad_accum``: micro-batches per optimizer step;
    - ``amp``: ``"none"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast +
      GradScaler, CUDA only); ``device``: ``"auto"`` (CUDA if available), ``"cpu"``,
      ``"cuda"``, ``"cuda:1"``... (checked by :func:`vidstruct.device.resolve_device`);
    - ``clip_grad``: max global L2 norm of the gradients (``None``: off);
    - ``label_smoothing``, ``mixup_alpha``, ``cutmix_alpha``: regularization
      (mixup / cutmix turn the targets into soft targets);
    - ``ema_decay``: keep an exponential moving average of the weights;
    - ``precise_bn_batches``: recompute BatchNorm statistics over this many
      batches at the end of training (0: off);
    - ``ckpt_every`` / ``eval_every`` / ``log_every``: in optimizer steps
      (``eval_every = 0``: evaluate only at the end, if validation data is given);
    - ``keep_checkpoints``: how many step checkpoints to keep on disk;
    - ``tensorboard``: write TensorBoard events to ``RUN/tb``.

    Data-loader processes and the progress bar are arguments of
    :func:`vidstruct.engine.trainer.train` (``num_workers``, ``quiet``), not experiment settings.
    """

    max_steps: Annotated[int, Field(ge=1)] = 1000
    batch_size: Annotated[int, Field(ge=1)] = 8
    grad_accum: Annotated[int, Field(ge=1)] = 1
    clip_grad: Annotated[float | None, Field(gt=0)] = None
    amp: Literal["none", "bf16", "fp16"] = "none"
    device: str = "auto"
    seed: int = 0
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    mixup_alpha: Annotated[float, Field(ge=0)] = 0.0
    cutmix_alpha: Annotated[float, Field(ge=0)] = 0.0
    ema_decay: Annotated[float | None, Field(gt=0, lt=1)] = None
    precise_bn_batches: Annotated[int, Field(ge=0)] = 0
    channels_last: bool = True
    ckpt_every: Annotated[int, Field(ge=1)] = 200
    eval_every: Annotated[int, Field(ge=0)] = 0
    log_every: Annotated[int, Field(ge=1)] = 10
    keep_checkpoints: Annotated[int, Field(ge=1, description="step checkpoints kept in RUN/checkpoints")] = 2
    tensorboard: Annotated[bool, Field(description="write TensorBoard events to RUN/tb")] = True


@dataclass(config=_STRICT)
class EvalSettings(_AsDict):
    """Evaluation: ``batch_size`` videos per process (each with all its views), ``num_workers`` loader
    processes, ``amp`` / ``device`` as in :class:`TrainSettings`; ``quiet``: no progress bar.

    Not a config section: the recipes assemble it from ``test.batch_size``, ``data.num_workers`` and
    ``train.amp`` / ``train.device``.
    """

    batch_size: Annotated[int, Field(ge=1)] = 4
    num_workers: Annotated[int, Field(ge=0)] = 0
    amp: Literal["none", "bf16", "fp16"] = "none"
    device: str = "auto"
    quiet: bool = True
