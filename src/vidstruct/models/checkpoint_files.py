"""Reading the self-describing checkpoint files of the task models (localizer, action detector, person detector).

Each is a ``torch.save`` of plain types with a ``format`` field (e.g. ``vidstruct.localizer/1``), written as
``RUN/<name>.pt``; a path may name the file or its run directory. These helpers give every loader the same
behaviour and the same one-line :class:`~vidstruct.errors.CheckpointError` s: missing, unreadable (safe
``torch.load(weights_only=True)`` only), another format, a field missing or of the wrong type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vidstruct.errors import CheckpointError

__all__ = ["need_field", "read_checkpoint_doc", "resolve_run_file"]


def resolve_run_file(path: str | Path, filename: str, what: str) -> Path:
    """``path`` itself, or ``path / filename`` when it is a run directory; CheckpointError when absent."""
    file = Path(path)
    if file.is_dir():
        file = file / filename
    if not file.is_file():
        raise CheckpointError(f"{file}: {what} checkpoint not found (expected a file or RUN/{filename})")
    return file


def read_checkpoint_doc(path: Path, fmt: str, what: str) -> dict[str, Any]:
    """The dict saved at ``path`` (safe load) whose ``format`` is ``fmt``; ``what`` names the kind in errors."""
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means a bad file to the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        article = "an" if what[:1] in "aeiou" else "a"
        raise CheckpointError(f"{path}: not {article} {what} checkpoint (expected format {fmt!r}, got {got!r})")
    return doc


def need_field(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path, fmt: str) -> Any:
    """``doc[key]`` when it is a ``kind``; CheckpointError naming the file, the format and the field otherwise."""
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CheckpointError(f"{path}: not a {fmt} file (field {key!r} is missing or malformed)")
    return value
