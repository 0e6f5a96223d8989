"""Save exact frames of a video as lossless PNG files (what ``vidstruct frames`` does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from vidstruct.atomic import atomic_open
from vidstruct.io.reader import VideoReader


@dataclass(frozen=True)
class SavedFrame:
    """One written PNG: its ``path``, the frame ``index`` and its presentation ``time_s`` (from frame 0)."""

    path: str
    index: int
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_frames(
    video: str | Path,
    out_dir: str | Path,
    *,
    indices: Sequence[int] | None = None,
    times_s: Sequence[float] | None = None,
) -> list[SavedFrame]:
    """Write the requested frames (full resolution, RGB, rotation applied) as PNG files in ``out_dir``.

    Give exactly one of ``indices`` / ``times_s``. File names start with the
    zero-padded request position, so they sort in request order:
    ``0000_frame000010.png`` (or ``0000_t1.250s_frame000031.png`` for times).
    Each file is written atomically (:func:`vidstruct.atomic.atomic_open`): it
    appears complete or not at all, and an error leaves no temporary file.
    """
    if (indices is None) == (times_s is None):
        raise ValueError("give exactly one of indices= or times_s=")
    with VideoReader(video) as reader:
        frame_ids = list(indices) if indices is not None else reader.index_at(list(times_s or [])).tolist()
        frames = reader.get_frames(frame_ids)
        times = reader.times_s
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pos_width = max(4, len(str(len(frame_ids) - 1)))
    idx_width = max(6, len(str(max(frame_ids))))
    saved = []
    for k, (idx, frame) in enumerate(zip(frame_ids, frames)):
        stem = f"{k:0{pos_width}d}"
        if times_s is not None:
            stem += f"_t{times_s[k]:.3f}s"
        name = f"{stem}_frame{idx:0{idx_width}d}.png"
        path = out / name
        with atomic_open(path, "wb") as fh:  # a crash never leaves a truncated PNG under the final name
            Image.fromarray(frame.numpy()).save(fh, format="PNG")  # uint8 [H, W, 3] -> RGB
        saved.append(SavedFrame(str(path), int(idx), float(times[idx])))
    return saved
