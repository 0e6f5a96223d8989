"""Multi-view evaluation: class probabilities per video, then metrics.

A batch is a dict with ``"clip"`` either ``[B, C, T, H, W]`` (one view) or
``[B, V, C, T, H, W]`` (V views per video, e.g. N temporal clips x 3 spatial
crops). Every view goes through the model, logits become softmax
probabilities, and the probabilities are averaged over the V views (the
PySlowFast / mmaction2 multi-view protocol). Targets come from
``batch["label"]`` (``[B]`` indices, or soft ``[B, K]`` reduced to their
argmax) or, for multi-head models returning a dict of logits, from
``batch["labels"][head]``.

Given a dataset, each process evaluates the indices ``rank, rank + world,
...`` and the results are gathered and put back in dataset order, so every
sample counts exactly once under DDP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from vidstruct.device import resolve_device
from vidstruct.engine.amp import autocast, check_amp
from vidstruct.engine.distributed import all_gather_objects, current, unwrap
from vidstruct.engine.logger import progress_bar
from vidstruct.engine.sampling import make_eval_loader
from vidstruct.engine.settings import EvalSettings
from vidstruct.errors import ShapeError
from vidstruct.eval.classification import classification_metrics, epic_action_metrics

Probs = np.ndarray | dict[str, np.ndarray]


@dataclass
class Predictions:
    """``probs``: ``[N, K]`` view-averaged softmax probabilities (a dict per head for multi-head models);
    ``targets``: ``[N]`` class indices (``-1``: unlabelled), same structure; ``indices``: ``[N]`` dataset indices.
    """

    probs: Probs
    targets: Probs
    indices: np.ndarray


def view_probabilities(model: nn.Module, clip: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
    """Softmax probabilities averaged over views: clip ``[B, C, T, H, W]`` or ``[B, V, C, T, H, W]`` → ``[B, K]``."""
    if clip.ndim == 5:
        clip = clip[:, None]
    if clip.ndim != 6:
        raise ShapeError(f"clip: expected [B, C, T, H, W] or [B, V, C, T, H, W], got shape {tuple(clip.shape)}")
    b, v = clip.shape[:2]
    out = model(clip.flatten(0, 1))

    def average(logits: torch.Tensor) -> torch.Tensor:
        return logits.float().softmax(dim=-1).view(b, v, -1).mean(dim=1)

    return {k: average(o) for k, o in out.items()} if isinstance(out, dict) else average(out)


def _hard(label: Any) -> torch.Tensor:
    t = torch.as_tensor(label)
    return t.argmax(dim=-1) if t.is_floating_point() and t.ndim == 2 else t.long().view(-1)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Dataset | Iterable[dict[str, Any]],
    *,
    settings: EvalSettings = EvalSettings(),
    device: torch.device | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> Predictions:
    """Run ``model`` (eval mode) over ``data`` (a map-style dataset or an iterable of batches)."""
    info = current()
    device = device or resolve_device(settings.device, info.local_rank, where="train.device")
    check_amp(settings.amp, device, key="test.amp")
    net = unwrap(model)
    was_training = net.training
    net.eval().to(device)
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        loader: Iterable[dict[str, Any]] = make_eval_loader(
            data, batch_size=settings.batch_size, info=info, num_workers=settings.num_workers, collate_fn=collate_fn
        )
        order: list[int] | None = list(loader.sampler)  # type: ignore[attr-defined]
    else:
        loader, order = data, None
    probs: list[Any] = []
    targets: list[Any] = []
    indices: list[int] = []
    seen = 0
    total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
    for batch in progress_bar(loader, total=total, description="eval", enabled=not settings.quiet and info.is_main):
        if "clip" not in batch:  # every sample of the batch failed to decode and was skipped
            continue
        clip = batch["clip"].to(device, non_blocking=True)
        with autocast(settings.amp, device):
            p = view_probabilities(net, clip)
        b = clip.shape[0]
        if isinstance(p, dict):
            probs.append({k: v.cpu() for k, v in p.items()})
            labels = batch.get("labels") or {}
            targets.append({k: _hard(labels[k]) if k in labels else torch.full((b,), -1) for k in p})
        else:
            probs.append(p.cpu())
            targets.append(_hard(batch["label"]) if "label" in batch else torch.full((b,), -1))
        if "index" in batch:
            indices.extend(int(i) for i in torch.as_tensor(batch["index"]).view(-1))
        elif order is not None:
            indices.extend(order[seen : seen + b])
        else:
            indices.extend(range(seen, seen + b))
        seen += b
    net.train(was_training)
    return _gather(probs, targets, indices)


def _cat(parts: list[Any]) -> Any:
    if parts and isinstance(parts[0], dict):
        return {k: torch.cat([p[k] for p in parts]).numpy() for k in parts[0]}
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), dtype=np.float32)


def _gather(probs: list[Any], targets: list[Any], indices: list[int]) -> Predictions:
    """Concatenate, gather over processes, sort by dataset index and drop duplicates (DDP padding)."""
    local = (_cat(probs), _cat(targets), np.asarray(indices, dtype=np.int64))
    parts = all_gather_objects(local)
    idx = np.concatenate([p[2] for p in parts])
    _, first = np.unique(idx, return_index=True)  # sorted unique indices, first occurrence

    def merge(j: int) -> Any:
        if isinstance(parts[0][j], dict):
            return {k: np.concatenate([p[j][k] for p in parts])[first] for k in parts[0][j]}
        return np.concatenate([p[j] for p in parts if len(p[j])])[first] if len(first) else parts[0][j]

    return Predictions(probs=merge(0), targets=merge(1), indices=idx[first])


def metrics(preds: Predictions, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Metrics of labelled samples: top-k and mean class accuracy, or EPIC verb / noun / action for
    verb + noun heads (other heads: ``<head>_top1`` ...)."""
    if isinstance(preds.probs, dict):
        assert isinstance(preds.targets, dict)
        out: dict[str, float] = {}
        if {"verb", "noun"} <= set(preds.probs):
            keep = (preds.targets["verb"] >= 0) & (preds.targets["noun"] >= 0)
            out.update(
                epic_action_metrics(
                    preds.probs["verb"][keep],
                    preds.probs["noun"][keep],
                    preds.targets["verb"][keep],
                    preds.targets["noun"][keep],
                    ks,
                )
            )
        for head, p in preds.probs.items():
            if head in ("verb", "noun"):
                continue
            keep = preds.targets[head] >= 0
            out.update(
                {f"{head}_{k}": v for k, v in classification_metrics(p[keep], preds.targets[head][keep], ks).items()}
            )
        return out
    assert isinstance(preds.targets, np.ndarray)
    keep = preds.targets >= 0
    if not keep.any():
        return {}
    return classification_metrics(preds.probs[keep], preds.targets[keep], ks)


def evaluate(
    model: nn.Module,
    data: Dataset | Iterable[dict[str, Any]],
    *,
    settings: EvalSettings = EvalSettings(),
    device: torch.device | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> tuple[dict[str, float], Predictions]:
    """:func:`predict` then :func:`metrics`."""
    preds = predict(model, data, settings=settings, device=device, collate_fn=collate_fn)
    return metrics(preds), preds
