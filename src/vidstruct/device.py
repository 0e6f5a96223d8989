"""The one device resolver: a user's device name (``--device``, ``train.device``) → a usable :class:`torch.device`.

Accepted names:

- ``auto``: ``cuda:<local_rank>`` when CUDA is available, else ``cpu``;
- ``cpu``;
- ``cuda`` / ``cuda:N`` (``gpu`` / ``gpu:N`` are aliases): ``cuda`` means ``cuda:<local_rank>`` (the process's
  own GPU under ``torchrun``); the device must exist on this machine;
- ``mps`` (Apple GPU), when available.

Anything else, or a device this machine does not have, is a :class:`~vidstruct.errors.ConfigError` whose one
line names the option (``where``), the value, why it cannot be used and what to use instead, e.g.
``--device cuda: CUDA is not available on this machine (torch 2.5.1+cpu is built without CUDA); use --device cpu``.

A foundation module (like :mod:`vidstruct.errors`): every layer that places tensors on a device may import it.
"""

from __future__ import annotations

import torch

from vidstruct.errors import ConfigError

__all__ = ["DEVICE_NAMES", "resolve_device"]

DEVICE_NAMES = "auto, cpu, cuda, cuda:N, gpu (= cuda), mps"


def _use(where: str, value: str) -> str:
    """How to say "use VALUE" for ``where``: ``--device cpu`` for a flag, ``train.device=cpu`` for a config key."""
    return f"{where} {value}" if where.startswith("-") else f"{where}={value}"


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA"
    return f"torch {torch.__version__} has CUDA {torch.version.cuda} but no GPU is visible"


def resolve_device(name: str, local_rank: int = 0, *, where: str = "--device") -> torch.device:
    """The :class:`torch.device` for ``name`` (see module doc); ``local_rank`` picks the GPU of ``auto`` / ``cuda``.

    ``where`` names the option or config key in error messages (``"--device"``, ``"train.device"``).
    """
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if text == "gpu" or text.startswith("gpu:"):
        text = "cuda" + text[3:]
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{where} {name}: unknown device (expected {DEVICE_NAMES})") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{where} {name}: CUDA is not available on this machine ({_no_cuda_reason()}); use {_use(where, 'cpu')}"
            )
        count = torch.cuda.device_count()
        index = local_rank if device.index is None else device.index
        if index >= count:
            raise ConfigError(
                f"{where} {name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1}); "
                f"use {_use(where, 'cuda:0')} or {_use(where, 'cpu')}"
            )
        return torch.device(f"cuda:{index}")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(
                f"{where} {name}: MPS (Apple GPU) is not available on this machine; use {_use(where, 'cpu')}"
            )
        return torch.device("mps")
    raise ConfigError(f"{where} {name}: unsupported device type {device.type!r} (expected {DEVICE_NAMES})")
