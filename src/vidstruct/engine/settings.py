"""Typed settings of the training / evaluation engine.

These are plain dataclasses: the CLI turns the validated config sections
(``train``, ``optim``, ``test``) into them once, and the engine never reads a
config tree. Field names match :mod:`vidstruct.config.schema` so that
``TrainSettings.from_dict(cfg.train.model_dump())`` works; keys the engine does
not know raise :class:`~vidstruct.errors.ConfigError`.

Units: learning rates are absolute (per optimizer step, not scaled by batch),
``*_steps`` / ``*_every`` count optimizer steps (one step = ``grad_accum``
micro-batches of ``batch_size`` clips per process).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from vidstruct.errors import ConfigError
from vidstruct.registry import did_you_mean

S = TypeVar("S", bound="_FromDict")


class _FromDict:
    @classmethod
    def from_dict(cls: type[S], values: dict[str, Any], *, where: str = "") -> S:
        """Build from a mapping; an unknown key is a :class:`ConfigError` naming close matches."""
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        for key in values:
            if key not in names:
                prefix = f"{where}." if where else ""
                raise ConfigError(f"unknown key {prefix}{key!r} for {cls.__name__}{did_you_mean(key, names)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass
class OptimSettings(_FromDict):
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
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    no_decay_norm_bias: bool = True
    layer_decay: float | None = None
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 0
    warmup_start_factor: float = 0.01
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainSettings(_FromDict):
    """The training loop.

    - ``max_steps``: optimizer steps; ``batch_size``: clips per process per
      micro-batch; ``grad_accum``: micro-batches per optimizer step;
    - ``amp``: ``"none"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast +
      GradScaler, CUDA only); ``device``: ``"auto"`` (CUDA if available), ``"cpu"``,
      ``"cuda"``, ``"cuda:1"``...;
    - ``clip_grad``: max global L2 norm of the gradients (``None``: off);
    - ``label_smoothing``, ``mixup_alpha``, ``cutmix_alpha``: regularization
      (mixup / cutmix turn the targets into soft targets);
    - ``ema_decay``: keep an exponential moving average of the weights;
    - ``precise_bn_batches``: recompute BatchNorm statistics over this many
      batches at the end of training (0: off);
    - ``ckpt_every`` / ``eval_every`` / ``log_every``: in optimizer steps
      (``eval_every = 0``: evaluate only at the end, if validation data is given);
    - ``keep_checkpoints``: how many step checkpoints to keep on disk.
    """

    max_steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    clip_grad: float | None = None
    amp: Literal["none", "bf16", "fp16"] = "none"
    device: str = "auto"
    seed: int = 0
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    ema_decay: float | None = None
    precise_bn_batches: int = 0
    channels_last: bool = True
    ckpt_every: int = 200
    eval_every: int = 0
    log_every: int = 10
    keep_checkpoints: int = 2
    num_workers: int = 0
    tensorboard: bool = True
    quiet: bool = False


@dataclass
class EvalSettings(_FromDict):
    """Evaluation: ``batch_size`` videos per process (each with all its views); ``quiet``: no progress bar."""

    batch_size: int = 4
    num_workers: int = 0
    amp: Literal["none", "bf16", "fp16"] = "none"
    device: str = "auto"
    quiet: bool = True
