"""Task ``epic``: EPIC-Kitchens-100-style untrimmed videos with (verb, noun) segments and the EPIC-100 files.

Each video shows a static, textured, nearly grey worktop; several action segments follow one another with
background gaps (nothing moves and no object is on screen there). In a segment one object appears and moves:

- the **noun** is the object: one of :data:`NOUNS`, a fixed shape and colour per class, so one frame shows it;
- the **verb** is its motion: one of :data:`VERBS` (left, right, up, down, rotation, shaking), so telling it
  needs at least two frames.

Classes are sampled with fixed long-tailed weights (:data:`VERB_WEIGHTS`, :data:`NOUN_WEIGHTS`); the rarest
two verbs and two nouns are the "tail" classes.

Participants and splits: video ``k`` is ``P{k // 4 + 1:02d}_{k % 4 + 1:02d}`` (four videos per participant).
Every fifth participant (P05, P10, ...) is *unseen*: all their videos are validation videos, listed in
``EPIC_100_unseen_participant_ids_validation.csv``. Of the other participants the fourth video (``P01_04``)
is a validation video and the first three are training videos.

Written under ``out`` (the layout of the EPIC-KITCHENS-100 download and its annotation repository):

- ``P01/videos/P01_01.MP4``: H.264, ``size`` x ``size`` pixels at ``fps``; read with
  ``video_template: "{participant_id}/videos/{video_id}.MP4"``;
- ``EPIC_100_train.csv`` / ``EPIC_100_validation.csv``: ``narration_id, participant_id, video_id,
  narration_timestamp, start_timestamp, stop_timestamp, start_frame, stop_frame, narration, verb,
  verb_class, noun, noun_class, all_nouns, all_noun_classes``; timestamps ``HH:MM:SS.ss`` (the narration's
  ``HH:MM:SS.sss``), the start rounded down and the stop to the last frame's end rounded down to 1/100 s,
  so the frames whose times lie in ``[start, stop)`` are exactly the segment's frames
  ``start_frame .. stop_frame`` (0-based indices at the video's fps);
- ``EPIC_100_verb_classes.csv`` / ``EPIC_100_noun_classes.csv``: ``id, key, instances, category``;
- ``EPIC_100_tail_verbs.csv`` (column ``verb``) / ``EPIC_100_tail_nouns.csv`` (column ``noun``): class ids;
- ``EPIC_100_unseen_participant_ids_validation.csv`` (column ``participant_id``).

Deterministic: video ``k`` depends only on ``(seed, k)`` and the options.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidstruct.atomic import write_text_atomic
from vidstruct.data.synth.actions import Pose, Track, plan_motion
from vidstruct.data.synth.appearance import make_actor, make_background
from vidstruct.data.synth.common import (
    DEFAULT_CRF,
    ProgressFn,
    SynthSummary,
    frame_times,
    margin_px,
    validate_options,
    video_indices,
    write_scene,
)
from vidstruct.data.synth.render import Scene
from vidstruct.errors import InputError

__all__ = [
    "CSV_COLUMNS",
    "NOUNS",
    "VERBS",
    "EpicSegment",
    "epic_scene",
    "epic_video_id",
    "format_timestamp",
    "is_unseen_participant",
    "is_validation_video",
    "write_epic",
]


@dataclass(frozen=True)
class EpicVerb:
    """A verb class: its ``key``, synonyms, category and the actor motion (:mod:`.actions`) that shows it."""

    key: str
    instances: tuple[str, ...]
    category: str
    motion: str


@dataclass(frozen=True)
class EpicNoun:
    """A noun class: its ``key``, synonyms, category and how the object looks (shape, aspect, RGB colour)."""

    key: str
    instances: tuple[str, ...]
    category: str
    shape: str
    aspect: float
    color: tuple[int, int, int]


VERBS: tuple[EpicVerb, ...] = (
    EpicVerb("move-left", ("move-left", "slide-left"), "translate", "move_left"),
    EpicVerb("move-right", ("move-right", "slide-right"), "translate", "move_right"),
    EpicVerb("lift", ("lift", "raise"), "translate", "move_up"),
    EpicVerb("lower", ("lower", "put-down"), "translate", "move_down"),
    EpicVerb("turn", ("turn", "rotate"), "rotate", "rotate_cw"),
    EpicVerb("shake", ("shake", "bounce"), "oscillate", "bounce"),
)
NOUNS: tuple[EpicNoun, ...] = (
    EpicNoun("plate", ("plate", "dish"), "crockery", "ellipse", 0.55, (220, 40, 40)),
    EpicNoun("knife", ("knife",), "cutlery", "rectangle", 0.25, (240, 240, 240)),
    EpicNoun("cup", ("cup", "mug"), "crockery", "triangle", 0.7, (30, 170, 60)),
    EpicNoun("sponge", ("sponge",), "cleaning", "rectangle", 0.6, (245, 215, 20)),
    EpicNoun("pan", ("pan", "frying-pan"), "cookware", "diamond", 0.5, (30, 60, 220)),
)
VERB_WEIGHTS: tuple[float, ...] = (4, 4, 3, 3, 2, 2)  # sampling weights: a long tail, as in EPIC-100
NOUN_WEIGHTS: tuple[float, ...] = (4, 3, 3, 2, 2)
TAIL_VERBS: tuple[int, ...] = (4, 5)  # the rarest verbs (turn, shake)
TAIL_NOUNS: tuple[int, ...] = (3, 4)  # the rarest nouns (sponge, pan)

CSV_COLUMNS: tuple[str, ...] = (
    "narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp", "stop_timestamp",
    "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun", "noun_class", "all_nouns",
    "all_noun_classes",
)  # fmt: skip
VIDEOS_PER_PARTICIPANT = 4
UNSEEN_EVERY = 5  # participants P05, P10, ... appear in validation only
VIDEO_TEMPLATE = "{participant_id}/videos/{video_id}.MP4"
SEGMENT_S = (1.0, 2.0)  # length range of an action segment
GAP_S = (0.4, 1.2)  # length range of the background before / between segments
OBJECT_RADIUS = (0.15, 0.2)  # fraction of the frame size: objects are large in an egocentric view
WORKTOP_SATURATION = 0.3  # share of the background's colour kept (1: as the other tasks, 0: grey)
COLOR_JITTER = 12.0  # per-channel uniform jitter of a noun's colour, grey levels
NOISE_SIGMA = 4.0
_TASK_CODE = 15  # seeds video rngs apart from the other synthetic tasks (1-3)


@dataclass(frozen=True)
class EpicSegment:
    """One narration: frames ``start_frame .. stop_frame`` (inclusive) of its video, verb and noun class."""

    start_frame: int
    stop_frame: int
    verb_class: int
    noun_class: int


def epic_video_id(index: int) -> tuple[str, str]:
    """``(participant_id, video_id)`` of video ``index``: four videos per participant (``P01_01`` ...)."""
    participant = f"P{index // VIDEOS_PER_PARTICIPANT + 1:02d}"
    return participant, f"{participant}_{index % VIDEOS_PER_PARTICIPANT + 1:02d}"


def is_unseen_participant(index: int) -> bool:
    """Whether video ``index`` belongs to an unseen participant (every fifth: P05, P10, ...)."""
    return (index // VIDEOS_PER_PARTICIPANT + 1) % UNSEEN_EVERY == 0


def is_validation_video(index: int) -> bool:
    """Validation: every video of an unseen participant and the fourth video of every other one."""
    return is_unseen_participant(index) or index % VIDEOS_PER_PARTICIPANT == VIDEOS_PER_PARTICIPANT - 1


def format_timestamp(seconds: float, decimals: int = 2) -> str:
    """Seconds → ``HH:MM:SS.ss`` (``decimals`` digits), rounded *down* to the last digit."""
    scale = 10**decimals
    ticks = math.floor(seconds * scale + 1e-6)
    whole, frac = divmod(ticks, scale)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{frac:0{decimals}d}"


def _video_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _TASK_CODE, index]))


def _worktop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured, nearly grey worktop (``[H, W, 3]`` float32 in [0, 255]): the textured background of the other
    tasks with its colour saturation cut to :data:`WORKTOP_SATURATION`, so the saturated objects stand out."""
    image, _ = make_background(rng, size, size)
    grey = image.mean(axis=2, keepdims=True)
    return (grey + WORKTOP_SATURATION * (image - grey)).astype(np.float32)


def epic_scene(
    rng: np.random.Generator, size: int, fps: float, num_frames: int, *, antialias: bool = True
) -> tuple[Scene, list[EpicSegment]]:
    """Sample one untrimmed video: its scene (one object per segment, visible only during it) and its segments
    in time order."""
    background = _worktop(rng, size)
    margin = margin_px(size)
    frames = lambda seconds: max(2, round(rng.uniform(*seconds) * fps))  # noqa: E731
    verb_p = np.asarray(VERB_WEIGHTS) / sum(VERB_WEIGHTS)
    noun_p = np.asarray(NOUN_WEIGHTS) / sum(NOUN_WEIGHTS)
    actors, tracks, segments = [], [], []
    cursor = frames(GAP_S)
    while True:
        length = frames(SEGMENT_S)
        if cursor + length >= num_frames - 1:
            break
        verb, noun = int(rng.choice(len(VERBS), p=verb_p)), int(rng.choice(len(NOUNS), p=noun_p))
        spec = NOUNS[noun]
        color = np.clip(np.asarray(spec.color, dtype=np.float64) + rng.uniform(-1, 1, 3) * COLOR_JITTER, 0, 255)
        actor = make_actor(spec.shape, spec.aspect, color, rng.uniform(*OBJECT_RADIUS) * size)
        piece = plan_motion(
            VERBS[verb].motion, rng, frame_times(length + 1, fps), size=size, radius=actor.radius, margin=margin
        )
        if piece is None:
            raise InputError(f"size: {size} px is too small for verb {VERBS[verb].key!r}")
        track = Track.still(Pose(0.0, 0.0), num_frames, visible=False)
        for name in ("cx", "cy", "scale", "angle", "visible"):
            getattr(track, name)[cursor : cursor + length + 1] = getattr(piece, name)
        actors.append(actor)
        tracks.append(track)
        segments.append(EpicSegment(cursor, cursor + length, verb, noun))
        cursor += length + 1 + frames(GAP_S)
    if not segments:
        need = GAP_S[1] + SEGMENT_S[1]
        raise InputError(
            f"duration: {num_frames / fps:.2f} s is too short for an epic video (one segment needs {need:.1f} s)"
        )
    noise_seed = int(rng.integers(2**63))
    return Scene(background, fps, actors, tracks, NOISE_SIGMA, noise_seed, antialias), segments


def _row(participant: str, video_id: str, number: int, seg: EpicSegment, fps: float) -> list[str]:
    verb, noun = VERBS[seg.verb_class].key, NOUNS[seg.noun_class].key
    start_s, end_s = seg.start_frame / fps, (seg.stop_frame + 1) / fps
    return [
        f"{video_id}_{number}", participant, video_id, format_timestamp(max(0.0, start_s - 0.25), 3),
        format_timestamp(start_s), format_timestamp(end_s), str(seg.start_frame), str(seg.stop_frame),
        f"{verb} {noun}", verb, str(seg.verb_class), noun, str(seg.noun_class), f"['{noun}']", f"[{seg.noun_class}]",
    ]  # fmt: skip


def _write_csv(path: Path, header: list[str] | tuple[str, ...], rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def _class_rows(classes: tuple[EpicVerb, ...] | tuple[EpicNoun, ...]) -> list[list[str]]:
    return [[str(i), c.key, str(list(c.instances)), c.category] for i, c in enumerate(classes)]


def write_epic(
    out: str | Path,
    num_videos: int,
    seed: int,
    *,
    size: int = 64,
    fps: float = 15.0,
    duration: float = 12.0,
    antialias: bool = True,
    crf: int = DEFAULT_CRF,
    progress: ProgressFn | None = None,
) -> SynthSummary:
    """Write ``num_videos`` EPIC-style videos and the EPIC-100 annotation files under ``out`` (module doc).

    Raises :class:`~vidstruct.errors.InputError` on a bad option.
    """
    num_frames = validate_options("localize", num_videos, seed, size, fps, duration)
    out = Path(out)
    videos: list[Path] = []
    rows: dict[str, list[list[str]]] = {"train": [], "validation": []}
    unseen: list[str] = []
    for index in video_indices(num_videos, progress):
        scene, segments = epic_scene(_video_rng(seed, index), size, fps, num_frames, antialias=antialias)
        participant, video_id = epic_video_id(index)
        path = out / VIDEO_TEMPLATE.format(participant_id=participant, video_id=video_id)
        videos.append(write_scene(path, scene, crf=crf))
        split = "validation" if is_validation_video(index) else "train"
        rows[split].extend(_row(participant, video_id, n, seg, fps) for n, seg in enumerate(segments))
        if is_unseen_participant(index) and participant not in unseen:
            unseen.append(participant)
    files = {
        "train": _write_csv(out / "EPIC_100_train.csv", CSV_COLUMNS, rows["train"]),
        "val": _write_csv(out / "EPIC_100_validation.csv", CSV_COLUMNS, rows["validation"]),
        "verb_classes": _write_csv(out / "EPIC_100_verb_classes.csv", ["id", "key", "instances", "category"],
                                   _class_rows(VERBS)),
        "noun_classes": _write_csv(out / "EPIC_100_noun_classes.csv", ["id", "key", "instances", "category"],
                                   _class_rows(NOUNS)),
        "tail_verbs": _write_csv(out / "EPIC_100_tail_verbs.csv", ["verb"], [[str(i)] for i in TAIL_VERBS]),
        "tail_nouns": _write_csv(out / "EPIC_100_tail_nouns.csv", ["noun"], [[str(i)] for i in TAIL_NOUNS]),
        "unseen_participants": _write_csv(
            out / "EPIC_100_unseen_participant_ids_validation.csv", ["participant_id"], [[p] for p in unseen]
        ),
    }  # fmt: skip
    return SynthSummary(
        task="epic",
        out_dir=out,
        videos=videos,
        annotation_files=files,
        classes=[v.key for v in VERBS],
        size=size,
        fps=float(fps),
        num_frames=num_frames,
        splits={"train": len(rows["train"]), "validation": len(rows["validation"])},
    )
