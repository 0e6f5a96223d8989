"""Training checkpoints: atomic writes, discovery in a run directory, safe loading.

Layout of a run directory::

    RUN/checkpoints/step_00000200.pt   # full training state every ckpt_every steps
    RUN/final.pt                       # weights + metadata for inference, written at the end
    RUN/log.csv, RUN/metrics.csv, RUN/tb/ (see vidstruct.engine.logger)

A training checkpoint is a dict of tensors and plain Python values (loadable
with ``torch.load(weights_only=True)``)::

    format: "vidstruct.train/1"   step: int   epoch, batch_in_epoch: data position
    model, optimizer, scheduler, scaler, ema: state dicts (ema / scaler may be None)
    rng: [per-rank capture_rng() dicts]
    config: the resolved config (dict)   classes: [names]   input_spec: InputSpec dict
    versions: {"vidstruct", "torch", "python"}

Files are written through :mod:`vidstruct.atomic` (a uniquely named temporary
file in the same directory, fsynced, moved into place), so a run killed at any
moment leaves either the previous or the new checkpoint, never a partial one.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vidstruct import __version__
from vidstruct.atomic import atomic_open
from vidstruct.errors import CheckpointError
from vidstruct.models.state_dict import load_checkpoint_into

FORMAT = "vidstruct.train/1"
_STEP_RE = re.compile(r"^step_(\d+)\.pt$")


def library_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint."""
    return {"vidstruct": str(__version__), "torch": str(torch.__version__), "python": platform.python_version()}


def save_atomic(obj: dict[str, Any], path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` through :func:`vidstruct.atomic.atomic_open` (unique temporary file in the
    same folder, fsync, rename; removed on error, the old file kept)."""
    path = Path(path)
    with atomic_open(path) as f:
        torch.save(obj, f)
    return path


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step_{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the step checkpoints in ``run_dir``, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _STEP_RE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest step checkpoint; :class:`CheckpointError` if the run has none."""
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(
            f"{run_dir}: no checkpoint to resume from (expected {checkpoint_dir(run_dir)}/step_*.pt); "
            "start a new run without resume"
        )
    return found[-1][1]


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    found = list_checkpoints(run_dir)
    for _, p in found[: max(0, len(found) - keep)]:
        p.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; :class:`CheckpointError` if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any unpickling failure means a bad file
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
        first = next((ln for ln in lines if "Unsupported global" in ln), lines[0])[:300]
        raise CheckpointError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a vidstruct checkpoint (expected a dict with a 'model' state dict)")
    return ckpt


def check_classes(ckpt_classes: Sequence[str] | None, classes: Sequence[str] | None, where: str) -> None:
    """Raise :class:`CheckpointError` if a checkpoint's class list differs from the dataset's.

    The message names both class counts and the first position where the names differ.
    Nothing is checked when either side has no class names.
    """
    if not ckpt_classes or not classes or list(ckpt_classes) == list(classes):
        return
    a, b = list(ckpt_classes), list(classes)
    msg = f"{where}: checkpoint has {len(a)} classes but the dataset has {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            msg += f"; first difference at index {i}: {x!r} (checkpoint) vs {y!r} (dataset)"
            break
    else:
        longer, which = (a, "checkpoint") if len(a) > len(b) else (b, "dataset")
        msg += f"; the {which} continues with {longer[min(len(a), len(b))]!r}"
    raise CheckpointError(msg)


def load_model_weights(model: torch.nn.Module, ckpt: dict[str, Any], where: str, prefer_ema: bool = True) -> str:
    """Load the (EMA, if present and ``prefer_ema``) weights of ``ckpt`` into ``model``; returns which.

    Loaded by the one strict loader (:func:`vidstruct.models.state_dict.load_checkpoint_into`, no head
    re-initialization): a shape or key mismatch raises :class:`CheckpointError` naming the offending keys.
    """
    use_ema = prefer_ema and isinstance(ckpt.get("ema"), dict)
    state = ema_weights(ckpt["ema"]) if use_ema else ckpt["model"]
    load_checkpoint_into(model, state, strict=True, reinit_head=False, where=where)
    return "ema" if use_ema else "model"


def ema_weights(ema_state: dict[str, Any]) -> dict[str, Any]:
    """Model weights inside an ``AveragedModel`` state dict (``module.`` prefix dropped)."""
    return {k[len("module.") :]: v for k, v in ema_state.items() if k.startswith("module.")}
