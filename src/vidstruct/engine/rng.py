"""Capture / restore every random-number generator as tensors and plain lists.

The result loads with ``torch.load(weights_only=True)``: no pickled
``numpy`` arrays or tuples of unknown types, only tensors, ints, floats,
strings, lists and dicts.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng(extra: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """States of Python ``random``, NumPy's legacy global RNG, torch CPU / CUDA and ``extra`` generators."""
    version, py_state, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": np_kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: g.get_state() for name, g in (extra or {}).items()},
    }
    return state


def restore_rng(state: dict[str, Any], extra: dict[str, torch.Generator] | None = None) -> None:
    """Inverse of :func:`capture_rng` (CUDA states are restored only when the device count matches)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    for name, g in (extra or {}).items():
        if name in state.get("generators", {}):
            g.set_state(state["generators"][name])
