"""Synthetic action videos with exact ground truth: real H.264 mp4 files for tests, demos and benchmarks.

Actions are recognizable only from motion (a still frame of any class comes from the same distribution):
see :mod:`.actions`. Three tasks, each writing the standard annotation format of its field:

- ``classify``: trimmed clips + Kinetics-style ``train.txt`` / ``val.txt`` / ``classes.txt``;
- ``localize``: untrimmed videos + ActivityNet-1.3-style ``annotations.json`` / ``classes.txt``;
- ``detect``: multi-actor videos + AVA-style ``train.csv`` / ``val.csv`` / ``label_map.pbtxt`` /
  ``ava_action_list.pbtxt``;
- ``epic``: untrimmed videos of (verb, noun) segments + the EPIC-Kitchens-100 CSVs (:mod:`.epic`; there
  the noun is visible in one frame, the verb needs motion).

Everything is deterministic: video ``k`` of a task depends only on ``(seed, k)`` and the options, not on
the number of videos.
"""

from __future__ import annotations

from pathlib import Path

from vidstruct.data.synth.actions import ACTIONS, DETECT_ACTIONS, INTERACTIONS, LOCALIZE_ACTIONS, Pose, Track
from vidstruct.data.synth.classify import clip_scene, render_clip, write_classify
from vidstruct.data.synth.common import TASKS, ProgressFn, SynthSummary, validate_options, video_rng
from vidstruct.data.synth.detect import detect_scene, keyframe_seconds, write_detect
from vidstruct.data.synth.epic import epic_scene, write_epic
from vidstruct.data.synth.localize import localize_scene, write_localize
from vidstruct.data.synth.render import Scene, actor_mask, iter_frames, render_scene, track_boxes

__all__ = [
    "ACTIONS",
    "DETECT_ACTIONS",
    "INTERACTIONS",
    "LOCALIZE_ACTIONS",
    "TASKS",
    "Pose",
    "ProgressFn",
    "Scene",
    "SynthSummary",
    "Track",
    "actor_mask",
    "clip_scene",
    "detect_scene",
    "epic_scene",
    "generate",
    "iter_frames",
    "keyframe_seconds",
    "localize_scene",
    "render_clip",
    "render_scene",
    "track_boxes",
    "video_rng",
    "write_classify",
    "write_detect",
    "write_epic",
    "write_localize",
]


def generate(
    task: str,
    out: str | Path,
    num_videos: int,
    seed: int = 0,
    size: int = 128,
    fps: float = 25.0,
    duration: float = 5.0,
    *,
    antialias: bool = True,
    progress: ProgressFn | None = None,
) -> SynthSummary:
    """Write ``num_videos`` synthetic videos of ``task`` (``classify`` | ``localize`` | ``detect`` | ``epic``)
    and their ground truth under ``out``.

    ``size`` x ``size`` pixels (even, >= 32), ``fps`` frames per second, ``round(duration * fps)`` frames
    (``localize`` / ``detect`` need ``duration >= 2`` s). ``progress`` wraps the iterable of video indices
    (e.g. a progress bar). Raises :class:`~vidstruct.errors.InputError` on a bad option.
    """
    if task == "epic":  # its own layout (participants, EPIC-100 CSVs): see vidstruct.data.synth.epic
        return write_epic(
            out, num_videos, seed, size=size, fps=fps, duration=duration, antialias=antialias, progress=progress
        )
    validate_options(task, num_videos, seed, size, fps, duration)
    writer = {"classify": write_classify, "localize": write_localize, "detect": write_detect}[task]
    return writer(out, num_videos, seed, size=size, fps=fps, duration=duration, antialias=antialias, progress=progress)
