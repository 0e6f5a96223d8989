"""Task ``classify``: trimmed clips of one action each, with Kinetics-style list files.

Written under ``out``:

- ``videos/synth_XXXXX.mp4``: one clip per video, class ``index % num_classes`` (balanced);
- ``train.txt`` / ``val.txt``: ``<path> <label>`` per line, ``path`` relative to the list file's directory,
  ``label`` the class index (~80/20 split, deterministic, see :func:`~.common.is_validation`);
- ``classes.txt``: one class name per line, line ``i`` = class ``i``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidstruct.data.synth.actions import ACTIONS, plan_motion
from vidstruct.data.synth.appearance import make_background, sample_actor
from vidstruct.data.synth.common import (
    DEFAULT_CRF,
    VIDEO_DIR,
    ProgressFn,
    SynthSummary,
    frame_times,
    is_validation,
    margin_px,
    validate_options,
    video_indices,
    video_name,
    video_rng,
    write_lines,
    write_scene,
)
from vidstruct.data.synth.render import Scene, render_scene, track_boxes
from vidstruct.errors import InputError

NOISE_SIGMA = 4.0


def clip_scene(
    action: str,
    size: int,
    fps: float,
    duration: float,
    rng: np.random.Generator,
    *,
    antialias: bool = True,
    noise_sigma: float = NOISE_SIGMA,
) -> Scene:
    """The scene of one trimmed clip: one random actor doing ``action`` for ``duration`` seconds on a
    random textured ``size`` x ``size`` background (``round(duration * fps)`` frames)."""
    if action not in ACTIONS:
        raise InputError(f"action: unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    num_frames = max(2, round(duration * fps))
    background, base = make_background(rng, size, size)
    actor = sample_actor(rng, size, [base])
    track = plan_motion(
        action, rng, frame_times(num_frames, fps), size=size, radius=actor.radius, margin=margin_px(size)
    )
    if track is None:  # cannot happen for a fresh start with the default radius range; guard anyway
        raise InputError(f"size: {size} px is too small for action {action!r}")
    noise_seed = int(rng.integers(2**63))
    return Scene(background, fps, [actor], [track], noise_sigma, noise_seed, antialias)


def render_clip(
    action: str,
    size: int,
    fps: float,
    duration: float,
    rng: np.random.Generator,
    *,
    antialias: bool = True,
    noise_sigma: float = NOISE_SIGMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one clip of ``action`` in memory.

    Returns ``(frames, boxes)``: uint8 ``[T, H, W, 3]`` RGB with ``T = round(duration * fps)``, and the
    actor's tight box per frame, float32 ``[T, 4]`` ``[x1, y1, x2, y2]`` normalized to ``[0, 1]``.
    """
    scene = clip_scene(action, size, fps, duration, rng, antialias=antialias, noise_sigma=noise_sigma)
    return render_scene(scene), track_boxes(scene.actors[0], scene.tracks[0], size, size)


def write_classify(
    out: str | Path,
    num_videos: int,
    seed: int,
    *,
    size: int = 128,
    fps: float = 25.0,
    duration: float = 5.0,
    classes: tuple[str, ...] = ACTIONS,
    antialias: bool = True,
    crf: int = DEFAULT_CRF,
    progress: ProgressFn | None = None,
) -> SynthSummary:
    """Write ``num_videos`` trimmed clips and their Kinetics-style lists under ``out`` (see module doc)."""
    num_frames = validate_options("classify", num_videos, seed, size, fps, duration)
    unknown = [c for c in classes if c not in ACTIONS]
    if unknown or not classes:
        raise InputError(f"classes: expected a non-empty subset of {', '.join(ACTIONS)}, got {list(classes)}")
    out = Path(out)
    videos: list[Path] = []
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for index in video_indices(num_videos, progress):
        label = index % len(classes)
        scene = clip_scene(
            classes[label], size, fps, num_frames / fps, video_rng(seed, "classify", index), antialias=antialias
        )
        rel = f"{VIDEO_DIR}/{video_name(index)}.mp4"
        videos.append(write_scene(out / rel, scene, crf=crf))
        lines["val" if is_validation(index, len(classes)) else "train"].append(f"{rel} {label}")
    files = {split: write_lines(out / f"{split}.txt", rows) for split, rows in lines.items()}
    files["classes"] = write_lines(out / "classes.txt", classes)
    return SynthSummary(
        task="classify",
        out_dir=out,
        videos=videos,
        annotation_files=files,
        classes=list(classes),
        size=size,
        fps=float(fps),
        num_frames=num_frames,
        splits={split: len(rows) for split, rows in lines.items()},
    )
