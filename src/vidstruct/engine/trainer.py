"""The training loop, written to be read top to bottom.

``train(model, dataset, settings=..., optim=..., run_dir=...)`` runs
``settings.max_steps`` optimizer steps:

1. join the DDP process group if launched by ``torchrun`` (see
   :mod:`vidstruct.engine.distributed`), pick the device, seed everything;
2. build optimizer, LR schedule, AMP scaler, EMA, mixup;
3. with ``resume=True`` restore all of them, the RNG states and the step from
   the newest checkpoint in ``run_dir``;
4. iterate micro-batches whose order depends only on ``(seed, epoch)``
   (:mod:`vidstruct.engine.sampling`), so a resumed run continues exactly
   where the interrupted one stopped;
5. every step: ``grad_accum`` forward / backward passes (DDP gradient sync
   only on the last), unscale + clip, optimizer and scheduler step, EMA
   update; log, evaluate and checkpoint on their schedules;
6. at the end: precise BN, a last evaluation, ``RUN/final.pt`` (weights and
   metadata for inference).

The (map-style) dataset yields dicts with ``"clip"`` float ``[C, T, H, W]`` and
``"label"`` (class index or soft target ``[K]``), or ``"labels"`` (per-head
indices) for models returning a dict of logits. A batch without ``"clip"``
(every sample skipped by ``collate_skip_failed``) is passed over. Exact resume
assumes every sample decodes (a skipped batch shifts that rank's data position).

Other tasks reuse the loop through two optional hooks (classification is the
default when they are absent):

- ``loss_fn(net, batch, device) -> loss``: the scalar training loss of one
  micro-batch (``net`` is the model, DDP-wrapped under ``torchrun``; the hook
  moves what it needs to ``device``; it runs under the AMP autocast). Batches
  need no ``"clip"`` then, and mixup / cutmix are unavailable;
- ``evaluate_fn(model) -> metrics``: validation (on the EMA weights when kept)
  instead of the classification evaluator; runs every ``eval_every`` steps and
  at the end, with or without ``val_data``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from vidstruct.data.transforms.mix import MixupCutmix
from vidstruct.device import resolve_device
from vidstruct.engine import checkpoint as ckpt_io
from vidstruct.engine.amp import autocast, check_amp, make_scaler
from vidstruct.engine.distributed import DistInfo, all_gather_objects, all_reduce_mean, init_distributed, wrap_ddp
from vidstruct.engine.ema import build_ema, update_ema
from vidstruct.engine.evaluator import evaluate
from vidstruct.engine.logger import RunLogger
from vidstruct.engine.losses import batch_targets, classification_loss
from vidstruct.engine.optim import build_optimizer, build_scheduler
from vidstruct.engine.precise_bn import recompute_bn_stats
from vidstruct.engine.rng import capture_rng, restore_rng
from vidstruct.engine.sampling import ResumableSampler, batches_from, make_train_loader
from vidstruct.engine.settings import EvalSettings, OptimSettings, TrainSettings
from vidstruct.errors import CheckpointError, ConfigError, InputError, VidstructError

log = logging.getLogger(__name__)


class TrainingDiverged(VidstructError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """``step`` reached, ``final`` weights file, last validation ``metrics``, checkpoint resumed from,
    and the ``rank`` of this process (0 in a single process)."""

    step: int
    run_dir: Path
    final: Path
    metrics: dict[str, float] = field(default_factory=dict)
    resumed_from: Path | None = None
    rank: int = 0


def train(
    model: nn.Module,
    train_data: Dataset,
    *,
    settings: TrainSettings,
    optim: OptimSettings,
    run_dir: str | Path,
    val_data: Dataset | None = None,
    eval_settings: EvalSettings | None = None,
    classes: Sequence[str] | None = None,
    input_spec: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    resume: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    loss_fn: Callable[[nn.Module, Any, torch.device], torch.Tensor] | None = None,
    evaluate_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    num_workers: int = 0,
    quiet: bool = False,
) -> TrainResult:
    """Train ``model`` on ``train_data``; checkpoints and logs go to ``run_dir`` (see module doc).

    ``num_workers``: data-loader processes; ``quiet``: no progress bar.
    """
    run_dir = Path(run_dir)
    # 1. processes, device, seeds
    device = resolve_device(settings.device, _local_rank(), where="train.device")
    info = init_distributed(device)
    check_amp(settings.amp, device)
    _seed_everything(settings.seed + info.rank)
    model.to(device)
    if settings.channels_last and device.type == "cuda":
        _channels_last_3d(model)
    # 2. optimizer, schedule, AMP scaler, EMA, mixup
    optimizer = build_optimizer(model, optim)
    scheduler = build_scheduler(optimizer, optim, settings.max_steps)
    scaler = make_scaler(settings.amp, device)
    ema = build_ema(model, settings.ema_decay)
    mix = MixupCutmix(settings.mixup_alpha, settings.cutmix_alpha, settings.label_smoothing)
    mix_gen = torch.Generator().manual_seed(settings.seed * 1000 + info.rank)
    if loss_fn is not None and mix.enabled:
        raise ConfigError("train.mixup_alpha / cutmix_alpha: mixing clips is only defined for classification")
    # 3. resume
    step, resumed_from = 0, None
    existing = ckpt_io.list_checkpoints(run_dir)
    if existing and not resume:
        raise CheckpointError(
            f"{run_dir}: already holds checkpoints (newest: step {existing[-1][0]}); "
            "resume it (--resume) or choose another run directory"
        )
    if resume:
        resumed_from = ckpt_io.latest_checkpoint(run_dir)
        state = ckpt_io.load_checkpoint(resumed_from)  # on CPU: RNG states must stay CPU tensors
        ckpt_io.check_classes(state.get("classes"), classes, str(resumed_from))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"] or {})
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        rngs = state["rng"]
        restore_rng(rngs[info.rank] if len(rngs) == info.world_size else rngs[0], {"mix": mix_gen})
        step = int(state["step"])
        if len(rngs) != info.world_size or state["data"]["per_step"] != settings.batch_size * settings.grad_accum:
            log.warning("resuming with another world size / batch size: the data order differs from the first run")
        log.info("resumed from %s at step %d", resumed_from, step)
    net = wrap_ddp(model, device, info)
    eval_model = ema.module if ema is not None else model  # validation uses the EMA weights when kept
    # 4. data, logs
    loader = make_train_loader(
        train_data, batch_size=settings.batch_size, info=info, seed=settings.seed,
        num_workers=num_workers, pin_memory=device.type == "cuda", collate_fn=collate_fn,
    )  # fmt: skip
    sampler: ResumableSampler = loader.sampler  # type: ignore[assignment]
    batches = batches_from(loader, start=step * settings.grad_accum)
    logger = RunLogger(
        run_dir, enabled=info.is_main, total_steps=settings.max_steps, start_step=step, resumed=resume,
        tensorboard=settings.tensorboard, quiet=quiet,
    )  # fmt: skip
    eval_settings = eval_settings or EvalSettings(device=str(device), amp=settings.amp)
    clips_per_step = settings.batch_size * settings.grad_accum * info.world_size
    metrics: dict[str, float] = {}
    t_last, steps_since_log = time.perf_counter(), 0
    # 5. the loop
    try:
        while step < settings.max_steps:
            model.train()
            step_loss = torch.zeros((), device=device)
            for micro in range(settings.grad_accum):
                batch = _next_batch(batches, "clip" if loss_fn is None else None)
                last = micro == settings.grad_accum - 1
                with contextlib.nullcontext() if last or not info.enabled else net.no_sync():
                    if loss_fn is not None:
                        with autocast(settings.amp, device):
                            loss = loss_fn(net, batch, device) / settings.grad_accum
                    else:
                        clip = _to_device(batch["clip"], device, settings.channels_last)
                        lam = 1.0
                        if mix.enabled:
                            clip, lam = mix.mix_clip(clip, mix_gen)
                        with autocast(settings.amp, device):
                            outputs = net(clip)
                        targets = _targets_to(batch_targets(batch, isinstance(outputs, dict)), device)
                        if mix.enabled:
                            targets = mix.mix_targets(targets, outputs, lam)
                        loss = classification_loss(outputs, targets, settings.label_smoothing) / settings.grad_accum
                    scaler.scale(loss).backward()
                step_loss += loss.detach()
            if settings.clip_grad is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            lr = max(g["lr"] for g in optimizer.param_groups)  # the LR of this step (head group under layer decay)
            scheduler.step()
            update_ema(ema, model)
            step, steps_since_log = step + 1, steps_since_log + 1

            if step % settings.log_every == 0 or step == settings.max_steps:
                loss_value = all_reduce_mean(step_loss).item()
                if not np.isfinite(loss_value):
                    raise TrainingDiverged(f"training loss is {loss_value} at step {step} (lower optim.lr?)")
                now = time.perf_counter()
                speed = clips_per_step * steps_since_log / max(now - t_last, 1e-9)
                logger.log_step(step, loss_value, lr, speed)
                t_last, steps_since_log = now, 0
            if (val_data is not None or evaluate_fn) and settings.eval_every and step % settings.eval_every == 0:
                metrics = _validate(eval_model, val_data, eval_settings, device, evaluate_fn)
                logger.log_metrics(step, metrics)
            if step % settings.ckpt_every == 0 or step == settings.max_steps:
                state = _training_state(
                    step, model, optimizer, scheduler, scaler, ema, mix_gen, info, settings, sampler
                )
                if info.is_main:
                    state.update(classes=list(classes or []), input_spec=input_spec, config=config or {})
                    ckpt_io.save_atomic(state, ckpt_io.checkpoint_path(run_dir, step))
                    ckpt_io.prune_checkpoints(run_dir, settings.keep_checkpoints)

        # 6. precise BN, final evaluation, weights for inference
        if settings.precise_bn_batches > 0:
            bn_batches = batches_from(loader, start=step * settings.grad_accum)

            def forward(m: nn.Module, batch: dict[str, Any]) -> None:
                with autocast(settings.amp, device):
                    if loss_fn is not None:
                        loss_fn(m, batch, device)
                    else:
                        m(_to_device(batch["clip"], device, settings.channels_last))

            for m in [model] + ([ema.module] if ema is not None else []):
                recompute_bn_stats(m, bn_batches, settings.precise_bn_batches, forward)
        if val_data is not None or evaluate_fn:
            metrics = _validate(eval_model, val_data, eval_settings, device, evaluate_fn)
            logger.log_metrics(step, metrics)
        final = run_dir / "final.pt"
        if info.is_main:
            ckpt_io.save_atomic(
                {
                    "format": ckpt_io.FORMAT, "step": step, "model": model.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None, "classes": list(classes or []),
                    "input_spec": input_spec, "config": config or {}, "metrics": metrics,
                    "versions": ckpt_io.library_versions(),
                },
                final,
            )  # fmt: skip
    finally:
        logger.close()
    return TrainResult(step, run_dir, final, metrics, resumed_from, info.rank)


def _training_state(
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    ema: Any,
    mix_gen: torch.Generator,
    info: DistInfo,
    settings: TrainSettings,
    loader_sampler: ResumableSampler,
) -> dict[str, Any]:
    """Everything needed to continue at ``step`` (RNG states of all ranks: a collective call)."""
    rngs = all_gather_objects(capture_rng({"mix": mix_gen}))
    micro = step * settings.grad_accum
    epoch, batch_in_epoch = divmod(micro, loader_sampler.batches_per_epoch)
    return {
        "format": ckpt_io.FORMAT,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "ema": ema.state_dict() if ema is not None else None,
        "rng": rngs,
        "data": {
            "micro_batches": micro,
            "per_step": settings.batch_size * settings.grad_accum,
            "seed": settings.seed,
            "world_size": info.world_size,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
        },
        "train_settings": settings.to_dict(),
        "versions": ckpt_io.library_versions(),
    }


def _validate(
    model: nn.Module,
    val_data: Dataset | None,
    eval_settings: EvalSettings,
    device: torch.device,
    evaluate_fn: Callable[[nn.Module], dict[str, float]] | None,
) -> dict[str, float]:
    """Validation metrics: ``evaluate_fn(model)`` when given, else the classification evaluator on ``val_data``."""
    if evaluate_fn is not None:
        return dict(evaluate_fn(model))
    metrics, _ = evaluate(model, val_data, settings=eval_settings, device=device)  # type: ignore[arg-type]
    return metrics


def _next_batch(batches: Any, key: str | None = "clip", max_empty: int = 100) -> dict[str, Any]:
    """The next batch holding ``key`` (a batch whose samples all failed to decode and were skipped has no clips)."""
    for _ in range(max_empty):
        batch = next(batches)
        if key is None or key in batch:
            return batch
    raise InputError(f"{max_empty} training batches in a row had no decodable sample; run 'vidstruct check-data'")


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _channels_last_3d(model: nn.Module) -> None:
    """Store 5-D weights (Conv3d kernels) channels-last; other tensors are left as they are."""
    for t in [*model.parameters(), *model.buffers()]:
        if t.dim() == 5:
            t.data = t.data.contiguous(memory_format=torch.channels_last_3d)


def _to_device(clip: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    clip = clip.to(device, non_blocking=True)
    if channels_last and device.type == "cuda" and clip.ndim == 5:
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    return clip


def _targets_to(targets: Any, device: torch.device) -> Any:
    if isinstance(targets, dict):
        return {k: v.to(device, non_blocking=True) for k, v in targets.items()}
    return targets.to(device, non_blocking=True)
