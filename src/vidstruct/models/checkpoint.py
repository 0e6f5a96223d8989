"""Model checkpoints for inference: weights plus everything needed to rebuild and feed the model.

A model checkpoint is a ``torch.save``'d dict of tensors and plain values (loadable with
``torch.load(weights_only=True)``)::

    format: "vidstruct.model/1"
    model: registered model name          model_kwargs: builder kwargs (num_classes, …)
    state_dict: {name: tensor}            input_spec: InputSpec.to_dict()
    classes: [names] or None              source: {"format", "path", "sha256"} or {}
    vidstruct_version, torch_version

:func:`load_model_checkpoint` rebuilds the model from the registry, loads the weights
(:func:`vidstruct.models.state_dict.load_checkpoint_into`) and restores the input spec.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vidstruct import __version__
from vidstruct.atomic import write_bytes_atomic
from vidstruct.errors import CheckpointError
from vidstruct.models.base import VideoModel
from vidstruct.models.spec import InputSpec
from vidstruct.models.state_dict import load_checkpoint_into
from vidstruct.registry import MODELS

__all__ = [
    "FORMAT",
    "load_model_checkpoint",
    "read_model_checkpoint",
    "save_model_checkpoint",
    "sha256_file",
]

log = logging.getLogger(__name__)

FORMAT = "vidstruct.model/1"
REQUIRED_KEYS = ("model", "state_dict")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_model_checkpoint(
    path: str | Path,
    model: VideoModel,
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any] | None = None,
    classes: Sequence[str] | None = None,
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and metadata to ``path`` atomically (:mod:`vidstruct.atomic`)."""
    if classes is not None and len(classes) != getattr(model, "num_classes", len(classes)):
        raise CheckpointError(f"{path}: {len(classes)} class names for a {model.num_classes}-class model")
    obj = {
        "format": FORMAT,
        "model": model_name,
        "model_kwargs": _with_num_classes(model_name, model, model_kwargs or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "input_spec": model.input_spec.to_dict(),
        "classes": list(classes) if classes is not None else None,
        "vidstruct_version": __version__,
        "torch_version": str(torch.__version__),
        "source": dict(source or {}),
    }
    return write_bytes_atomic(path, lambda fh: torch.save(obj, fh))


def _with_num_classes(name: str, model: VideoModel, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` plus the model's ``num_classes`` when its builder takes one (so the head is rebuilt right)."""
    out = dict(kwargs)
    if name in MODELS and "num_classes" in inspect.signature(MODELS.get(name)).parameters:
        out.setdefault("num_classes", int(model.num_classes))
    return out


def read_model_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict at ``path`` (safe load); :class:`CheckpointError` if missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        why = "corrupt, truncated or not a torch.save file"
        raise CheckpointError(f"{path}: not a readable checkpoint ({why})") from exc
    if not isinstance(obj, dict) or any(k not in obj for k in REQUIRED_KEYS):
        found = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{path}: not a vidstruct model checkpoint (expected keys {', '.join(REQUIRED_KEYS)}; found {found})"
        )
    return obj


def _kwargs_for(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` the builder ``name`` accepts."""
    params = inspect.signature(MODELS.get(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def load_model_checkpoint(
    path: str | Path,
    expect_model: str | None = None,
    *,
    num_classes: int | None = None,
    strict: bool = True,
) -> tuple[VideoModel, dict[str, Any]]:
    """Rebuild and load the model stored at ``path``.

    - ``expect_model``: the model the caller wants; when the checkpoint holds another one its
      weights must still fit exactly, else :class:`CheckpointError` names both models and a
      few offending keys (an unknown name raises :class:`~vidstruct.errors.RegistryError`);
    - ``num_classes``: build the classifier for this many classes; when it differs from the
      checkpoint's, the head is re-initialized (reported in ``meta["load_report"]`` and the
      checkpoint's class names are dropped).

    Returns ``(model in eval mode, meta)``: ``meta`` is the checkpoint dict without
    ``state_dict`` plus ``load_report`` (:class:`~vidstruct.models.state_dict.LoadReport`).
    """
    ckpt = read_model_checkpoint(path)
    held = str(ckpt["model"])
    name = expect_model or held
    MODELS.get(name)
    kwargs = _kwargs_for(name, ckpt.get("model_kwargs") or {})
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    model = MODELS.build(name, **kwargs)
    report = load_checkpoint_into(
        model, ckpt["state_dict"], strict=strict, model_name=name, checkpoint_model=held, where=str(path)
    )
    if name != held:
        log.warning("%s: checkpoint of %r loaded into %r", path, held, name)
    if ckpt.get("input_spec") and name == held:
        model.input_spec = InputSpec.from_dict(ckpt["input_spec"])
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    if report.head_reinitialized:
        meta["classes"] = None
    meta["load_report"] = report
    return model.eval(), meta
