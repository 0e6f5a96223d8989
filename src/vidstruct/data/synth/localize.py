"""Task ``localize``: untrimmed videos with several action segments separated by background.

One actor per video. Between segments (and before the first / after the last) the actor either stands
still or is absent; during a segment it performs one action of :data:`~.actions.LOCALIZE_ACTIONS`. Segment
boundaries fall on frame times: a segment ``[a / fps, b / fps]`` is the span over which the pose changes
(frames ``a`` to ``b``), and the pose is constant outside every segment.

Written under ``out``:

- ``videos/synth_XXXXX.mp4``;
- ``annotations.json``: ActivityNet-1.3 style ``{"version", "taxonomy", "database": {video_id: {"duration",
  "subset" ("training" | "validation"), "resolution" ("WxH"), "url", "annotations": [{"segment": [s, e],
  "label": name}]}}}``; the video of ``video_id`` is ``videos/<video_id>.mp4``;
- ``classes.txt``: one class name per line, line ``i`` = class ``i``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vidstruct.data.records import Segment
from vidstruct.data.synth.actions import LOCALIZE_ACTIONS, Pose, Track, plan_motion
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
from vidstruct.data.synth.render import Scene
from vidstruct.errors import InputError

SEGMENT_S = (0.6, 1.4)  # length range of an action segment
GAP_S = (0.3, 1.0)  # length range of the background between segments (and before the first)
P_ABSENT = 0.3  # chance that the actor is absent (not still) during a stretch of background
NOISE_SIGMA = 4.0
ACTOR_RADIUS = (0.08, 0.13)  # base radius range, fraction of the frame size
MIN_RADIUS = 0.045  # an actor that grew / shrank over several segments stays within
ACTIVITYNET_VERSION = "VERSION 1.3"


def localize_scene(
    rng: np.random.Generator,
    size: int,
    fps: float,
    num_frames: int,
    *,
    classes: tuple[str, ...] = LOCALIZE_ACTIONS,
    antialias: bool = True,
    noise_sigma: float = NOISE_SIGMA,
) -> tuple[Scene, list[Segment]]:
    """Sample one untrimmed video of ``num_frames`` frames: its scene and its segments (seconds, in time
    order, ``label_index`` indexing ``classes``)."""
    background, base = make_background(rng, size, size)
    actor = sample_actor(rng, size, [base], radius_range=ACTOR_RADIUS)
    margin = margin_px(size)
    plan = lambda action, times, start: plan_motion(  # noqa: E731
        action, rng, times, size=size, radius=actor.radius, margin=margin, start=start, min_radius=MIN_RADIUS * size
    )
    frames = lambda seconds: max(2, round(rng.uniform(*seconds) * fps))  # noqa: E731
    end_gap = max(2, round(GAP_S[0] * fps))

    spans: list[tuple[int, int]] = []  # [a, b] frame spans of the segments
    cursor = frames(GAP_S)
    while True:
        length = frames(SEGMENT_S)
        if cursor + length + end_gap > num_frames - 1:
            if spans:
                break
            cursor = min(cursor, end_gap)
            length = num_frames - 1 - end_gap - cursor
            if length < 2:
                raise InputError(f"duration: {num_frames / fps:.2f} s is too short for a localize video")
        spans.append((cursor, cursor + length))
        cursor += length + frames(GAP_S)

    track = Track.still(Pose(0.0, 0.0), num_frames, visible=False)
    segments: list[Segment] = []
    pose: Pose | None = None  # the pose the actor holds during the current background, None: absent
    prev_end = -1
    for a, b in spans:
        label = int(rng.integers(len(classes)))
        times = frame_times(b - a + 1, fps)
        piece = None
        if pose is not None and rng.random() >= P_ABSENT:
            piece = plan(classes[label], times, pose)
        still_gap = piece is not None
        if piece is None:  # absent during the gap; start afresh
            piece = plan(classes[label], times, None)
            if piece is None:
                raise InputError(f"size: {size} px is too small for action {classes[label]!r}")
            if prev_end < 0 and rng.random() >= P_ABSENT:
                still_gap = True  # before the first segment: stand still at the start pose
        start_pose = piece.pose(0)
        if still_gap:
            _assign(track, slice(prev_end + 1, a), Track.still(start_pose, a - prev_end - 1))
        _assign(track, slice(a, b + 1), piece)
        pose = piece.pose(len(times) - 1)
        segments.append(Segment(round(a / fps, 6), round(b / fps, 6), classes[label], label))
        prev_end = b
    if rng.random() >= P_ABSENT:
        _assign(track, slice(prev_end + 1, num_frames), Track.still(pose, num_frames - prev_end - 1))
    noise_seed = int(rng.integers(2**63))
    return Scene(background, fps, [actor], [track], noise_sigma, noise_seed, antialias), segments


def _assign(track: Track, where: slice, piece: Track) -> None:
    for name in ("cx", "cy", "scale", "angle", "visible"):
        getattr(track, name)[where] = getattr(piece, name)


def activitynet_json(entries: dict[str, dict], classes: tuple[str, ...]) -> dict:
    """The ActivityNet-1.3 document: ``entries`` is the ``database`` mapping; the taxonomy is a root node
    (id 0) with one child per class (ids 1..C)."""
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [{"nodeId": i + 1, "nodeName": c, "parentId": 0, "parentName": "Root"} for i, c in enumerate(classes)]
    return {"version": ACTIVITYNET_VERSION, "taxonomy": taxonomy, "database": entries}


def write_localize(
    out: str | Path,
    num_videos: int,
    seed: int,
    *,
    size: int = 128,
    fps: float = 25.0,
    duration: float = 5.0,
    classes: tuple[str, ...] = LOCALIZE_ACTIONS,
    antialias: bool = True,
    crf: int = DEFAULT_CRF,
    progress: ProgressFn | None = None,
) -> SynthSummary:
    """Write ``num_videos`` untrimmed videos and their ActivityNet-style annotations under ``out``."""
    num_frames = validate_options("localize", num_videos, seed, size, fps, duration)
    unknown = [c for c in classes if c not in LOCALIZE_ACTIONS]
    if unknown or not classes:
        raise InputError(f"classes: expected a non-empty subset of {', '.join(LOCALIZE_ACTIONS)}, got {list(classes)}")
    out = Path(out)
    videos: list[Path] = []
    database: dict[str, dict] = {}
    for index in video_indices(num_videos, progress):
        rng = video_rng(seed, "localize", index)
        scene, segments = localize_scene(rng, size, fps, num_frames, classes=classes, antialias=antialias)
        vid = video_name(index)
        videos.append(write_scene(out / VIDEO_DIR / f"{vid}.mp4", scene, crf=crf))
        database[vid] = {
            "duration": round(num_frames / fps, 6),
            "subset": "validation" if is_validation(index) else "training",
            "resolution": f"{size}x{size}",
            "url": "",
            "annotations": [{"segment": [s.start_s, s.end_s], "label": s.label} for s in segments],
        }
    annotations = out / "annotations.json"
    annotations.write_text(json.dumps(activitynet_json(database, classes), indent=1), encoding="utf-8")
    subsets = [entry["subset"] for entry in database.values()]
    return SynthSummary(
        task="localize",
        out_dir=out,
        videos=videos,
        annotation_files={"annotations": annotations, "classes": write_lines(out / "classes.txt", classes)},
        classes=list(classes),
        size=size,
        fps=float(fps),
        num_frames=num_frames,
        splits={"training": subsets.count("training"), "validation": subsets.count("validation")},
    )
