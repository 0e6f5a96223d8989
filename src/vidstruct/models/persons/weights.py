"""A local state-dict file into a detector: nothing is downloaded, a file of another model is a clear error."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidstruct.errors import CheckpointError
from vidstruct.models.state_dict import LoadReport, load_checkpoint_into

__all__ = ["load_detector_weights", "read_state_dict"]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a state-dict file (``torch.load(weights_only=True)``, on CPU).

    Accepted: a plain ``{name: tensor}`` file (torchvision's published ``.pth`` files), or one that keeps it
    under ``"model"`` or ``"state_dict"``. Anything else is a :class:`CheckpointError` naming ``path``.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{path}: detector weights file not found")
    try:
        obj: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types: all mean "not a weights file"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch weights file ({reason})") from None
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict ({{name: tensor}}), found {type(obj).__name__}")
    return {str(k): v for k, v in obj.items()}


def load_detector_weights(model: nn.Module, path: str | Path, *, model_name: str) -> LoadReport:
    """Load the state-dict file ``path`` into ``model`` (the detector ``model_name``), strictly.

    Missing / unexpected keys or shape mismatches (another detector, another number of classes) raise one
    :class:`CheckpointError` naming ``path``, ``model_name`` and the first offending keys.
    """
    state = read_state_dict(path)
    return load_checkpoint_into(model, state, model_name=model_name, where=str(path), reinit_head=False)
