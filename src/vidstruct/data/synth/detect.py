"""Task ``detect``: videos with two or three actors, AVA-style person boxes and actions at 1 Hz keyframes.

Each actor carries one label for the whole video: an individual action of :data:`~.actions.ACTIONS`, or,
for an interacting pair, an interaction of :data:`~.actions.INTERACTIONS` (``approach`` and ``pass_by`` for
both actors, ``give_object`` / ``receive_object`` for the two roles of a hand-over; the handed object is
drawn but not annotated). Individual and interaction movements look alike for one actor alone: telling
them apart needs the other actor (relation modelling).

Written under ``out``:

- ``videos/synth_XXXXX.mp4``;
- ``train.csv`` / ``val.csv``: AVA rows ``video_id,keyframe_s,x1,y1,x2,y2,action_id,person_id`` without a
  header; ``keyframe_s`` is an integer second (zero-padded to 4 digits as in AVA), the box is the actor's
  tight box at the frame nearest to that second, normalized to ``[0, 1]``, ``action_id`` is 1-based and
  ``person_id`` is the actor's index in the video (0-based, stable over the video);
- ``label_map.pbtxt``: ``item { name: "..." id: N }`` entries (the AVA evaluation label map);
- ``ava_action_list.pbtxt``: ``label { name: "..." label_id: N label_type: ... }`` entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidstruct.data.synth.actions import ACTIONS, DETECT_ACTIONS, INTERACTIONS, Track, plan_motion
from vidstruct.data.synth.appearance import Actor, make_actor, make_background, sample_actor, sample_color
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
from vidstruct.data.synth.interactions import approach, hand_over, pass_by
from vidstruct.data.synth.render import Scene, track_boxes
from vidstruct.errors import InputError

ACTOR_RADIUS = (0.06, 0.1)  # base radius range, fraction of the frame size
P_INTERACTION = 0.6  # chance that a video contains an interacting pair
P_THIRD_ACTOR = 0.4
NOISE_SIGMA = 4.0
_TRIES = 100
INTERACTION_KINDS: tuple[str, ...] = ("approach", "pass_by", "hand_over")


def keyframe_seconds(num_frames: int, fps: float) -> list[int]:
    """Integer seconds ``1, 2, ...`` whose nearest frame ``round(s * fps)`` exists (AVA-style 1 Hz
    keyframes; second 0 has no past context and is skipped)."""
    seconds = []
    second = 1
    while round(second * fps) <= num_frames - 1:
        seconds.append(second)
        second += 1
    return seconds


def detect_scene(
    rng: np.random.Generator,
    size: int,
    fps: float,
    num_frames: int,
    *,
    antialias: bool = True,
    noise_sigma: float = NOISE_SIGMA,
) -> tuple[Scene, list[str]]:
    """Sample one video: its scene and the label of each actor (``scene.actors[i]`` is person ``i``)."""
    background, base = make_background(rng, size, size)
    num_actors = 2 + int(rng.random() < P_THIRD_ACTOR)
    colors = [base]
    actors = []
    for _ in range(num_actors):
        actors.append(sample_actor(rng, size, colors, radius_range=ACTOR_RADIUS))
        colors.append(actors[-1].color)
    kind = INTERACTION_KINDS[int(rng.integers(len(INTERACTION_KINDS)))] if rng.random() < P_INTERACTION else None
    prop = None  # the object handed over: a small square
    if kind == "hand_over":
        prop = make_actor("rectangle", 1.0, sample_color(rng, colors), max(2.0, 0.04 * size))
    t = frame_times(num_frames, fps)
    margin = margin_px(size)
    for _ in range(_TRIES):
        sampled = _sample_tracks(rng, kind, actors, prop, t, size, margin)
        if sampled is not None:
            tracks, labels, prop_tracks = sampled
            break
    else:
        raise InputError(f"size: could not place {num_actors} actors without overlap in {size} x {size} px")
    order = rng.permutation(num_actors)  # person ids do not reveal who interacts
    scene = Scene(
        background,
        fps,
        [actors[i] for i in order],
        [tracks[i] for i in order],
        noise_sigma,
        int(rng.integers(2**63)),
        antialias,
        props=[prop] if prop is not None else [],
        prop_tracks=prop_tracks,
    )
    return scene, [labels[i] for i in order]


def _sample_tracks(
    rng: np.random.Generator,
    kind: str | None,
    actors: list[Actor],
    prop: Actor | None,
    t: np.ndarray,
    size: int,
    margin: float,
) -> tuple[list[Track], list[str], list[Track]] | None:
    """One attempt at the actors' tracks; ``None`` when something does not fit or actors overlap."""
    tracks: list[Track] = []
    labels: list[str] = []
    prop_tracks: list[Track] = []
    if kind is not None:
        radii = (actors[0].radius, actors[1].radius)
        if kind == "hand_over":
            assert prop is not None
            group = hand_over(rng, t, radii, prop.radius, size, margin)
            if group is None:
                return None
            tracks, prop_tracks, labels = group[:2], group[2:], ["give_object", "receive_object"]
        else:
            group = (approach if kind == "approach" else pass_by)(rng, t, radii, size, margin)
            if group is None:
                return None
            tracks, labels = group, [kind, kind]
    for actor in actors[len(tracks) :]:
        action = ACTIONS[int(rng.integers(len(ACTIONS)))]
        track = plan_motion(action, rng, t, size=size, radius=actor.radius, margin=margin)
        if track is None:
            return None
        tracks.append(track)
        labels.append(action)
    bodies = list(zip(actors, tracks))
    for i in range(len(bodies)):
        for j in range(i + 1, len(bodies)):
            if not _apart(*bodies[i], *bodies[j]):
                return None
        if prop_tracks and i >= 2 and not _apart(*bodies[i], prop, prop_tracks[0]):
            return None
    return tracks, labels, prop_tracks


def _apart(a: Actor, ta: Track, b: Actor, tb: Track) -> bool:
    """Whether the bounding circles of two actors never intersect."""
    dist = np.hypot(ta.cx - tb.cx, ta.cy - tb.cy)
    return bool(np.all(dist > a.radius * ta.scale + b.radius * tb.scale))


def ava_rows(video_id: str, scene: Scene, labels: list[str], classes: tuple[str, ...] = DETECT_ACTIONS) -> list[str]:
    """AVA CSV rows (without newline) of one video: one per (keyframe, person)."""
    rows = []
    boxes = [track_boxes(a, tr, scene.width, scene.height) for a, tr in zip(scene.actors, scene.tracks)]
    for second in keyframe_seconds(scene.num_frames, scene.fps):
        frame = round(second * scene.fps)
        for person, (label, box) in enumerate(zip(labels, boxes)):
            x1, y1, x2, y2 = (float(v) for v in np.clip(box[frame], 0.0, 1.0))
            rows.append(
                f"{video_id},{second:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},{classes.index(label) + 1},{person}"
            )
    return rows


def label_map_pbtxt(classes: tuple[str, ...] = DETECT_ACTIONS) -> list[str]:
    """Lines of the AVA evaluation label map (``item { name id }``, ids 1-based)."""
    lines = []
    for i, name in enumerate(classes):
        lines += ["item {", f'  name: "{name}"', f"  id: {i + 1}", "}"]
    return lines


def action_list_pbtxt(classes: tuple[str, ...] = DETECT_ACTIONS) -> list[str]:
    """Lines of an ``ava_action_list``-style file (``label { name label_id label_type }``)."""
    lines = []
    for i, name in enumerate(classes):
        kind = "PERSON_INTERACTION" if name in INTERACTIONS else "PERSON_MOVEMENT"
        lines += ["label {", f'  name: "{name}"', f"  label_id: {i + 1}", f"  label_type: {kind}", "}"]
    return lines


def write_detect(
    out: str | Path,
    num_videos: int,
    seed: int,
    *,
    size: int = 128,
    fps: float = 25.0,
    duration: float = 5.0,
    antialias: bool = True,
    crf: int = DEFAULT_CRF,
    progress: ProgressFn | None = None,
) -> SynthSummary:
    """Write ``num_videos`` multi-actor videos and their AVA-style annotations under ``out``."""
    num_frames = validate_options("detect", num_videos, seed, size, fps, duration)
    out = Path(out)
    videos: list[Path] = []
    rows: dict[str, list[str]] = {"train": [], "val": []}
    counts = {"train": 0, "val": 0}
    for index in video_indices(num_videos, progress):
        scene, labels = detect_scene(video_rng(seed, "detect", index), size, fps, num_frames, antialias=antialias)
        vid = video_name(index)
        videos.append(write_scene(out / VIDEO_DIR / f"{vid}.mp4", scene, crf=crf))
        split = "val" if is_validation(index) else "train"
        rows[split] += ava_rows(vid, scene, labels)
        counts[split] += 1
    files = {split: write_lines(out / f"{split}.csv", lines) for split, lines in rows.items()}
    files["label_map"] = write_lines(out / "label_map.pbtxt", label_map_pbtxt())
    files["action_list"] = write_lines(out / "ava_action_list.pbtxt", action_list_pbtxt())
    return SynthSummary(
        task="detect",
        out_dir=out,
        videos=videos,
        annotation_files=files,
        classes=list(DETECT_ACTIONS),
        size=size,
        fps=float(fps),
        num_frames=num_frames,
        splits=counts,
    )
