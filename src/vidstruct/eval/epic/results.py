"""EPIC-Kitchens-100 recognition results files: what the C1 challenge's ``evaluate.py`` reads.

Layouts (either, in any of the three containers below)::

    {"verb_output": [N, V], "noun_output": [N, K], "narration_id": [N] strings}   # arrays / tensors / lists
    [{"verb_output": [V], "noun_output": [K], "narration_id": "P01_101_1"}, ...]  # one dict per segment

``verb_output`` / ``noun_output`` are the heads' outputs, normally logits (the
official script applies a softmax to them; see :mod:`.recognition`).

Containers:

- ``.pkl`` / ``.pickle``: read with :func:`~vidstruct.data.formats.safe_pickle.load_restricted_pickle`
  (numpy arrays, numbers, strings and plain containers only; anything else is refused, never run);
- ``.pt`` / ``.pth``: ``torch.load(weights_only=True)`` with the same numpy allow-list added
  (tensors, numpy arrays written under numpy 2, plain containers);
- ``.npz``: ``numpy.load(allow_pickle=False)`` with the three keys (``narration_id`` a unicode array).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.formats.safe_pickle import load_restricted_pickle, numpy_globals
from vidstruct.errors import AnnotationError

__all__ = ["RecognitionResults", "load_recognition_results", "load_results_file", "recognition_results_from"]

_KEYS = ("verb_output", "noun_output", "narration_id")


@dataclass(frozen=True)
class RecognitionResults:
    """``narration_ids`` ``(N,)``; ``verb_output`` ``[N, V]`` and ``noun_output`` ``[N, K]`` float64 (as stored)."""

    source: str
    narration_ids: tuple[str, ...]
    verb_output: np.ndarray
    noun_output: np.ndarray


def load_results_file(path: str | Path) -> Any:
    """The object stored in a ``.pkl`` / ``.pt`` / ``.npz`` results file, read without running code from it."""
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: results file not found")
    suffix = p.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        return load_restricted_pickle(p)
    if suffix in (".pt", ".pth"):
        import pickle

        import torch

        try:
            with torch.serialization.safe_globals(numpy_globals()):
                return torch.load(p, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
            raise AnnotationError(
                f"{path}: cannot be read with torch.load(weights_only=True) (only tensors, numpy arrays, numbers, "
                f"strings and plain containers are admitted): {_torch_reason(e)}"
            ) from None
    if suffix == ".npz":
        import zipfile

        try:
            with np.load(p, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except ValueError as e:  # an object array needs pickle
            raise AnnotationError(
                f"{path}: an array needs pickle, which is not allowed ({e}); store strings as a "
                "unicode array (e.g. np.array(ids, dtype=str))"
            ) from None
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise AnnotationError(f"{path}: not a readable .npz file ({e})") from None
    raise AnnotationError(f"{path}: unknown results file type {suffix!r}; expected .pkl, .pt or .npz")


def _torch_reason(e: BaseException) -> str:
    """The informative line of a ``torch.load`` error (the refused global when there is one), without ANSI codes."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(e).splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line:
            return line
    return lines[0] if lines else type(e).__name__


def _array(value: Any, source: str, key: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnnotationError(f"{source}, {key!r}: expected an [N, classes] array of numbers") from None
    if arr.ndim != 2:
        raise AnnotationError(f"{source}, {key!r}: expected an [N, classes] array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        r = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise AnnotationError(f"{source}, {key!r}, row {r}: expected finite numbers (NaN or infinity found)")
    return arr


def _ids(value: Any, source: str) -> tuple[str, ...]:
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise AnnotationError(f"{source}, 'narration_id': expected a list of narration id strings")
    for i, v in enumerate(items):
        if not isinstance(v, str) or not v:
            raise AnnotationError(f"{source}, 'narration_id'[{i}]: expected a narration id string, got {v!r}")
    return tuple(items)


def recognition_results_from(obj: Any, source: str) -> RecognitionResults:
    """Validate a loaded results object (either layout of the module docstring)."""
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        if not obj:
            raise AnnotationError(f"{source}: no results (an empty list)")
        for i, r in enumerate(obj):
            if not isinstance(r, Mapping) or any(k not in r for k in _KEYS):
                raise AnnotationError(f"{source}, entry {i}: expected a dict with keys {', '.join(_KEYS)}")
        verb = [
            np.asarray(r["verb_output"].detach() if hasattr(r["verb_output"], "detach") else r["verb_output"])
            for r in obj
        ]
        noun = [
            np.asarray(r["noun_output"].detach() if hasattr(r["noun_output"], "detach") else r["noun_output"])
            for r in obj
        ]
        for key, rows in (("verb_output", verb), ("noun_output", noun)):
            shapes = {row.shape for row in rows}
            if len(shapes) != 1 or len(next(iter(shapes))) != 1:
                raise AnnotationError(
                    f"{source}, {key!r}: expected one 1-D score vector of the same length per "
                    f"entry, got shapes {sorted(shapes)[:3]}"
                )
        obj = {
            "verb_output": np.stack(verb),
            "noun_output": np.stack(noun),
            "narration_id": [r["narration_id"] for r in obj],
        }
    if not isinstance(obj, Mapping):
        raise AnnotationError(
            f"{source}: expected a dict with keys {', '.join(_KEYS)} or a list of such dicts, got {type(obj).__name__}"
        )
    missing = [k for k in _KEYS if k not in obj]
    if missing:
        raise AnnotationError(f"{source}: missing key(s) {', '.join(missing)}; found {', '.join(map(str, obj))}")
    verb = _array(obj["verb_output"], source, "verb_output")
    noun = _array(obj["noun_output"], source, "noun_output")
    ids = _ids(obj["narration_id"], source)
    if not (verb.shape[0] == noun.shape[0] == len(ids)):
        raise AnnotationError(
            f"{source}: {verb.shape[0]} verb rows, {noun.shape[0]} noun rows and {len(ids)} "
            "narration ids (expected equal counts)"
        )
    seen: dict[str, int] = {}
    for i, nid in enumerate(ids):
        if nid in seen:
            raise AnnotationError(
                f"{source}, 'narration_id'[{i}]: duplicate narration id {nid!r} (first at {seen[nid]})"
            )
        seen[nid] = i
    return RecognitionResults(source=source, narration_ids=ids, verb_output=verb, noun_output=noun)


def load_recognition_results(path: str | Path) -> RecognitionResults:
    """Read and validate a recognition results file (``.pkl`` / ``.pt`` / ``.npz``, module docstring)."""
    return recognition_results_from(load_results_file(path), str(path))
