"""Shared pieces of the synthetic task writers: option validation, per-video seeding, splits, summary."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.data.synth.render import Scene, iter_frames
from vidstruct.errors import InputError

TASKS: tuple[str, ...] = ("classify", "localize", "detect")
_TASK_CODES = {"classify": 1, "localize": 2, "detect": 3}
MIN_SIZE = 32
MIN_UNTRIMMED_DURATION_S = 2.0
VAL_EVERY = 5  # one video in VAL_EVERY goes to the validation split
VIDEO_DIR = "videos"
DEFAULT_CRF = 20
#: One encoder thread: x264's output depends on its thread count, so a fixed count gives the same bytes on
#: every machine (for the same x264 build); ``veryfast`` keeps generation cheap.
X264_OPTIONS = {"preset": "veryfast", "threads": "1"}

#: Wraps the iterable of video indices, e.g. with a progress bar.
ProgressFn = Callable[[Iterable[int]], Iterable[int]]


@dataclass
class SynthSummary:
    """What a task writer wrote.

    - ``videos``: the mp4 files, in video-index order;
    - ``annotation_files``: ground-truth files by role (``train``, ``val``, ``classes``, ``annotations``,
      ``label_map``, ``action_list``);
    - ``classes``: class names, index ``i`` = class ``i`` (AVA action id ``i + 1`` for ``detect``);
    - ``num_frames`` frames of ``size`` x ``size`` pixels at ``fps`` per video.
    """

    task: str
    out_dir: Path
    videos: list[Path]
    annotation_files: dict[str, Path]
    classes: list[str]
    size: int
    fps: float
    num_frames: int
    splits: dict[str, int] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Duration of every video in seconds (``num_frames / fps``)."""
        return self.num_frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings)."""
        return {
            "task": self.task,
            "out_dir": str(self.out_dir),
            "num_videos": len(self.videos),
            "size": self.size,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration_s": self.duration_s,
            "splits": dict(self.splits),
            "annotation_files": {k: str(v) for k, v in self.annotation_files.items()},
            "classes": list(self.classes),
            "videos": [str(v) for v in self.videos],
        }


def validate_options(task: str, num_videos: int, seed: int, size: int, fps: float, duration: float) -> int:
    """Check the generator options; return the number of frames per video.

    Raises :class:`~vidstruct.errors.InputError` naming the option and what was expected.
    """
    if task not in TASKS:
        raise InputError(f"task: unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if not _is_int(num_videos) or num_videos < 1:
        raise InputError(f"num_videos: expected an integer >= 1, got {num_videos!r}")
    if not _is_int(seed) or seed < 0:
        raise InputError(f"seed: expected an integer >= 0, got {seed!r}")
    if not _is_int(size) or size < MIN_SIZE or size % 2:
        raise InputError(
            f"size: expected an even integer >= {MIN_SIZE} (H.264 yuv420p needs even width and height), got {size!r}"
        )
    if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps: expected a number > 0, got {fps!r}")
    if not (isinstance(duration, numbers.Real) and math.isfinite(duration) and duration > 0):
        raise InputError(f"duration: expected seconds > 0, got {duration!r}")
    num_frames = round(duration * fps)
    if num_frames < 2:
        raise InputError(f"duration: {duration} s at {fps} fps gives {num_frames} frame(s); expected at least 2")
    if task in ("localize", "detect") and duration < MIN_UNTRIMMED_DURATION_S:
        raise InputError(f"duration: task {task!r} needs at least {MIN_UNTRIMMED_DURATION_S} s, got {duration}")
    return num_frames


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def video_rng(seed: int, task: str, index: int) -> np.random.Generator:
    """The random generator of video ``index`` of ``task``: video ``k`` is the same whatever the number of
    videos generated."""
    return np.random.default_rng(np.random.SeedSequence([seed, _TASK_CODES[task], index]))


def is_validation(index: int, num_classes: int = 1) -> bool:
    """Deterministic ~80/20 split: whether video ``index`` belongs to the validation split.

    Videos ``4, 9, 14, ...``; with classes assigned as ``index % num_classes`` (classify) the rule shifts by
    one every ``num_classes`` videos, so that every class reaches the validation split.
    """
    shift = index // num_classes if num_classes > 1 else 0
    return (index + shift) % VAL_EVERY == VAL_EVERY - 1


def video_name(index: int) -> str:
    """Video id of video ``index`` (the file is ``videos/<id>.mp4``)."""
    return f"synth_{index:05d}"


def frame_times(num_frames: int, fps: float) -> np.ndarray:
    """Presentation times ``[T]`` in seconds of the frames: ``i / fps``."""
    return np.arange(num_frames, dtype=np.float64) / fps


def margin_px(size: int) -> float:
    """Distance in pixels actors keep from the frame border."""
    return max(1.0, 0.02 * size)


def write_scene(path: Path, scene: Scene, crf: int = DEFAULT_CRF) -> Path:
    """Render ``scene`` and encode it to H.264 at ``path`` (one keyframe per second, :data:`X264_OPTIONS`)."""
    from vidstruct.io.writer import write_video  # lazy: keeps in-memory rendering free of the io stack

    gop = max(1, round(scene.fps))
    return write_video(path, iter_frames(scene), scene.fps, crf=crf, gop=gop, options=X264_OPTIONS)


def video_indices(num_videos: int, progress: ProgressFn | None) -> Iterable[int]:
    """``range(num_videos)``, wrapped by ``progress`` when given."""
    indices: Iterable[int] = range(num_videos)
    return progress(indices) if progress is not None else indices


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    """Write ``lines`` (one per line, trailing newline) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path
