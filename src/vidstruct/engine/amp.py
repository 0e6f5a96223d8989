"""Automatic mixed precision: autocast contexts and the fp16 gradient scaler.

- ``"none"``: float32 everywhere (the CPU default);
- ``"bf16"``: ``torch.autocast(dtype=bfloat16)``; no scaler needed (same exponent
  range as float32). Allowed on CPU, where it is slow;
- ``"fp16"``: ``torch.autocast(dtype=float16)`` with a
  :class:`torch.amp.GradScaler` against gradient underflow; CUDA only.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from vidstruct.errors import ConfigError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_amp(amp: str, device: torch.device, key: str = "train.amp") -> None:
    """:class:`ConfigError` for an unknown mode or fp16 off CUDA."""
    if amp not in ("none", "bf16", "fp16"):
        raise ConfigError(f"{key}: unknown AMP mode {amp!r} (expected none, bf16 or fp16)")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError(f"{key}: fp16 needs a CUDA device, running on {device.type} (use bf16 or none)")


def autocast(amp: str, device: torch.device) -> Any:
    """The autocast context for ``amp`` on ``device`` (a null context for ``"none"``)."""
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[amp])


def make_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (a disabled scaler passes calls through)."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")
