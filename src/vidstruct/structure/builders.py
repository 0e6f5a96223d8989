"""Typed builders of ``vidstruct.structure/1`` documents, for the code that produces them.

Each ``*_record`` function checks its arguments and returns the plain JSON-ready dict (a
:class:`~typing.TypedDict`) the document stores. They round, they never clamp: times are
seconds rounded to the millisecond, probabilities are rounded to 6 decimals, and a value out
of range (a negative time, a probability outside [0, 1], NaN, a box coordinate outside
[0, 1]) is a bug in the producer and raises ``ValueError`` (``TypeError`` for a wrong type).
Numpy scalars are accepted and stored as Python numbers.

:func:`structure_document` assembles a document (``format``, ``vidstruct_version`` and
``created`` filled in); :func:`~vidstruct.structure.files.write_structure` validates and
writes it.
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath, PurePosixPath
from typing import Any, Literal, NotRequired, TypedDict

from vidstruct import __version__
from vidstruct.structure.schema import FORMAT

__all__ = [
    "ActorRecord",
    "EmbeddingsRecord",
    "LabelProb",
    "ModelRecord",
    "ProfileRecord",
    "SegmentRecord",
    "ShotRecord",
    "StructureDocument",
    "ThumbnailRecord",
    "VideoRecord",
    "WindowRecord",
    "actor_record",
    "embeddings_record",
    "model_record",
    "probability",
    "profile_record",
    "relative_path",
    "seconds",
    "segment_record",
    "shot_record",
    "shots_from_cuts",
    "structure_document",
    "thumbnail_record",
    "video_record",
    "window_record",
]

Task = Literal["shots", "recognition", "localization", "person-detection", "action-detection"]
TASKS: tuple[str, ...] = ("shots", "recognition", "localization", "person-detection", "action-detection")
SegmentSource = Literal["localizer", "windows"]
ThumbnailKind = Literal["shot", "segment"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STAGE = re.compile(r"^[a-z][a-z0-9_]*$")
_MODEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
PROB_DECIMALS = 6


class VideoRecord(TypedDict):
    id: str
    path: str
    sha256: str
    duration_s: float | None
    fps: float | None
    width: int
    height: int
    codec: str
    rotation: int
    num_frames: int | None


class ProfileRecord(TypedDict):
    name: str
    sha256: str


class ModelRecord(TypedDict):
    name: str
    task: str
    checkpoint: str | None
    checkpoint_sha256: str | None
    classes: list[str] | None
    settings: dict[str, Any]


class LabelProb(TypedDict):
    label: str
    prob: float


class ShotRecord(TypedDict):
    index: int
    start_s: float
    end_s: float
    confidence: float
    thumbnail: str | None
    model: str


class SegmentRecord(TypedDict):
    label: str
    start_s: float
    end_s: float
    score: float
    source: str
    model: str
    shot: int | None
    thumbnail: str | None


class WindowRecord(TypedDict):
    start_s: float
    end_s: float
    top: list[LabelProb]
    embedding_row: int | None
    model: str


class ActorRecord(TypedDict):
    track_id: int
    time_s: float
    box: list[float]
    score: float
    actions: list[LabelProb]
    model: str


class ThumbnailRecord(TypedDict):
    path: str
    time_s: float
    kind: str
    ref: int


class EmbeddingsRecord(TypedDict):
    file: str
    rows: int
    dim: int
    model: str


class StructureDocument(TypedDict):
    format: str
    vidstruct_version: str
    created: str
    video: VideoRecord
    profile: ProfileRecord | None
    models: dict[str, ModelRecord]
    shots: list[ShotRecord]
    segments: list[SegmentRecord]
    windows: list[WindowRecord]
    actors: list[ActorRecord]
    thumbnails: list[ThumbnailRecord]
    embeddings: EmbeddingsRecord | None
    timings: dict[str, float]
    warnings: list[str]
    stages: NotRequired[dict[str, list[str]]]  #: only when some stages were skipped: ``{"ran", "skipped"}``


# ----------------------------------------------------------------------------------------------- values


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{what}: expected a number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{what}: expected a finite number, got {out}")
    return out


def seconds(value: Any, what: str = "time") -> float:
    """A time in seconds ≥ 0, rounded to the millisecond."""
    out = _number(value, what)
    if out < 0:
        raise ValueError(f"{what}: expected seconds >= 0, got {out}")
    return round(out, 3) + 0.0  # + 0.0: no -0.0


def probability(value: Any, what: str = "probability") -> float:
    """A probability in [0, 1] (never clamped), rounded to :data:`PROB_DECIMALS` decimals."""
    out = _number(value, what)
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"{what}: expected a probability in [0, 1], got {out}")
    return round(out, PROB_DECIMALS) + 0.0


def _index(value: Any, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected an integer, got bool")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(f"{what}: expected an integer, got {type(value).__name__}") from None
    if out < minimum:
        raise ValueError(f"{what}: expected an integer >= {minimum}, got {out}")
    return out


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what}: expected a non-empty string")
    return value


def _sha256(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(f"{what}: expected 64 lowercase hex digits (SHA-256), got {value!r}")
    return value


def _model_key(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _MODEL_KEY.match(value):
        raise ValueError(f"{what}: expected a model key (letters, digits, '_.:-'), got {value!r}")
    return value


def _choice(value: Any, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def relative_path(value: str | PurePath, what: str = "path") -> str:
    """A path relative to the document's folder and inside it, in POSIX form (``thumbs/shot-0000.jpg``)."""
    text = value.as_posix() if isinstance(value, PurePath) else _text(value, what)
    path = PurePosixPath(text)
    if not text or "\\" in text or path.is_absolute() or re.match(r"^[A-Za-z]:", text) or ".." in path.parts:
        raise ValueError(f"{what}: expected a relative path inside the document's folder, got {text!r}")
    return text


def _span(start_s: Any, end_s: Any, what: str) -> tuple[float, float]:
    start, end = seconds(start_s, f"{what}.start_s"), seconds(end_s, f"{what}.end_s")
    if start >= end:
        raise ValueError(f"{what}: end {end} s is not after start {start} s (after rounding to the millisecond)")
    return start, end


def _label_probs(entries: Mapping[str, Any] | Iterable[tuple[str, Any]], what: str) -> list[LabelProb]:
    pairs = list(entries.items()) if isinstance(entries, Mapping) else list(entries)
    out: list[LabelProb] = []
    seen: set[str] = set()
    for j, (label, prob) in enumerate(pairs):
        name = _text(label, f"{what}[{j}].label")
        if name in seen:
            raise ValueError(f"{what}: label {name!r} appears twice")
        seen.add(name)
        out.append({"label": name, "prob": probability(prob, f"{what}[{j}].prob")})
    return out


# ---------------------------------------------------------------------------------------------- records


def video_record(
    *,
    id: str,
    path: str | PurePath,
    sha256: str,
    width: int,
    height: int,
    codec: str,
    rotation: int = 0,
    duration_s: float | None = None,
    fps: float | None = None,
    num_frames: int | None = None,
) -> VideoRecord:
    """The ``video`` entry. ``width`` / ``height``: pixels as displayed (after rotation);
    ``rotation``: display rotation in degrees counter-clockwise, a multiple of 90 (stored in [0, 360):
    -90 becomes 270); ``duration_s`` seconds, ``fps`` frames per second, ``num_frames``: None when unknown.
    """
    if duration_s is not None and _number(duration_s, "video.duration_s") <= 0:
        raise ValueError(f"video.duration_s: expected seconds > 0 or None, got {duration_s}")
    if fps is not None and _number(fps, "video.fps") <= 0:
        raise ValueError(f"video.fps: expected frames per second > 0 or None, got {fps}")
    turns = _index(rotation, "video.rotation", minimum=-(10**9))
    if turns % 90:
        raise ValueError(f"video.rotation: expected a multiple of 90 degrees, got {rotation}")
    return {
        "id": _text(id, "video.id"),
        "path": str(path) if isinstance(path, PurePath) else _text(path, "video.path"),
        "sha256": _sha256(sha256, "video.sha256"),
        "duration_s": None if duration_s is None else seconds(duration_s, "video.duration_s"),
        "fps": None if fps is None else float(fps),
        "width": _index(width, "video.width", minimum=1),
        "height": _index(height, "video.height", minimum=1),
        "codec": _text(codec, "video.codec"),
        "rotation": turns % 360,
        "num_frames": None if num_frames is None else _index(num_frames, "video.num_frames", minimum=1),
    }


def profile_record(name: str, sha256: str) -> ProfileRecord:
    """The ``profile`` entry: the analysis profile's name and the SHA-256 of its validated content."""
    return {"name": _text(name, "profile.name"), "sha256": _sha256(sha256, "profile.sha256")}


def model_record(
    name: str,
    task: Task,
    *,
    checkpoint: str | PurePath | None = None,
    checkpoint_sha256: str | None = None,
    classes: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> ModelRecord:
    """One entry of ``models``. ``classes``: class names in output order (None when the model has none);
    ``settings``: the JSON-ready settings that shaped its results (window size in seconds, thresholds...)."""
    names = None
    if classes is not None:
        names = [_text(c, f"model {name!r} classes[{i}]") for i, c in enumerate(classes)]
        if not names:
            raise ValueError(f"model {name!r}: classes is empty (use None for a model without classes)")
        if len(set(names)) != len(names):
            raise ValueError(f"model {name!r}: class names repeat")
    return {
        "name": _text(name, "model.name"),
        "task": _choice(task, TASKS, f"model {name!r} task"),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "checkpoint_sha256": None if checkpoint_sha256 is None else _sha256(checkpoint_sha256, "checkpoint_sha256"),
        "classes": names,
        "settings": dict(settings or {}),
    }


def shot_record(
    index: int, start_s: float, end_s: float, confidence: float, *, model: str, thumbnail: str | PurePath | None = None
) -> ShotRecord:
    """One shot ``[start_s, end_s)`` in seconds; ``confidence``: probability that the cut opening it is real."""
    start, end = _span(start_s, end_s, f"shots[{index}]")
    return {
        "index": _index(index, "shot index"),
        "start_s": start,
        "end_s": end,
        "confidence": probability(confidence, f"shots[{index}].confidence"),
        "thumbnail": None if thumbnail is None else relative_path(thumbnail, f"shots[{index}].thumbnail"),
        "model": _model_key(model, f"shots[{index}].model"),
    }


def shots_from_cuts(
    cuts_s: Sequence[float],
    confidences: Sequence[float],
    duration_s: float,
    *,
    model: str,
    thumbnails: Sequence[str | PurePath | None] | None = None,
) -> list[ShotRecord]:
    """Contiguous shots from cut times: shot 0 is ``[0, cuts_s[0])``, the last ``[cuts_s[-1], duration_s)``.

    ``cuts_s``: increasing times (seconds) of the cuts, each strictly inside the video;
    ``confidences``: probability of each cut (the first shot gets 1.0); ``thumbnails``: one per shot or None.
    """
    if len(confidences) != len(cuts_s):
        raise ValueError(f"shots_from_cuts: {len(cuts_s)} cuts but {len(confidences)} confidences")
    bounds = [0.0, *(seconds(c, f"cuts_s[{i}]") for i, c in enumerate(cuts_s)), seconds(duration_s, "duration_s")]
    thumbs = list(thumbnails) if thumbnails is not None else [None] * (len(bounds) - 1)
    if len(thumbs) != len(bounds) - 1:
        raise ValueError(f"shots_from_cuts: {len(bounds) - 1} shots but {len(thumbs)} thumbnails")
    conf = [1.0, *confidences]
    return [
        shot_record(i, bounds[i], bounds[i + 1], conf[i], model=model, thumbnail=thumbs[i])
        for i in range(len(bounds) - 1)
    ]


def segment_record(
    label: str,
    start_s: float,
    end_s: float,
    score: float,
    *,
    source: SegmentSource,
    model: str,
    shot: int | None = None,
    thumbnail: str | PurePath | None = None,
) -> SegmentRecord:
    """One labelled span ``[start_s, end_s)`` in seconds; ``score`` a probability; ``source``: ``localizer`` or
    ``windows``; ``shot``: index of the shot holding it (None when it spans shots)."""
    start, end = _span(start_s, end_s, f"segment {label!r}")
    return {
        "label": _text(label, "segment label"),
        "start_s": start,
        "end_s": end,
        "score": probability(score, f"segment {label!r} score"),
        "source": _choice(source, ("localizer", "windows"), "segment source"),
        "model": _model_key(model, "segment model"),
        "shot": None if shot is None else _index(shot, "segment shot"),
        "thumbnail": None if thumbnail is None else relative_path(thumbnail, "segment thumbnail"),
    }


def window_record(
    start_s: float,
    end_s: float,
    top: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    model: str,
    embedding_row: int | None = None,
) -> WindowRecord:
    """One recognition window ``[start_s, end_s)`` in seconds; ``top``: label → probability (any order; stored
    sorted by probability, highest first, ties in the given order); ``embedding_row``: its row in embeddings.npy."""
    start, end = _span(start_s, end_s, "window")
    entries = _label_probs(top, "window top")
    if not entries:
        raise ValueError("window top: expected at least one (label, probability)")
    entries.sort(key=lambda e: -e["prob"])
    return {
        "start_s": start,
        "end_s": end,
        "top": entries,
        "embedding_row": None if embedding_row is None else _index(embedding_row, "window embedding_row"),
        "model": _model_key(model, "window model"),
    }


def actor_record(
    track_id: int,
    time_s: float,
    box: Sequence[float],
    score: float,
    actions: Mapping[str, float] | Iterable[tuple[str, float]] = (),
    *,
    model: str,
) -> ActorRecord:
    """One person box at keyframe ``time_s`` (seconds): ``box`` ``[x1, y1, x2, y2]`` normalized to [0, 1]
    (never clamped), ``score`` the probability of a person, ``actions`` label → probability (stored sorted,
    highest first)."""
    if len(box) != 4:
        raise ValueError(f"actor box: expected [x1, y1, x2, y2], got {len(box)} values")
    coords = [_number(v, f"actor box[{k}]") for k, v in enumerate(box)]
    for k, v in enumerate(coords):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"actor box[{k}]: expected a normalized coordinate in [0, 1], got {v}")
    if coords[0] > coords[2] or coords[1] > coords[3]:
        raise ValueError(f"actor box: expected x1 <= x2 and y1 <= y2, got {coords}")
    acts = _label_probs(actions, "actor actions")
    acts.sort(key=lambda e: -e["prob"])
    return {
        "track_id": _index(track_id, "actor track_id"),
        "time_s": seconds(time_s, "actor time_s"),
        "box": coords,
        "score": probability(score, "actor score"),
        "actions": acts,
        "model": _model_key(model, "actor model"),
    }


def thumbnail_record(path: str | PurePath, time_s: float, kind: ThumbnailKind, ref: int) -> ThumbnailRecord:
    """One thumbnail: ``path`` relative to the document's folder, taken at ``time_s`` seconds, of shot index /
    segment position ``ref``."""
    return {
        "path": relative_path(path, "thumbnail path"),
        "time_s": seconds(time_s, "thumbnail time_s"),
        "kind": _choice(kind, ("shot", "segment"), "thumbnail kind"),
        "ref": _index(ref, "thumbnail ref"),
    }


def embeddings_record(rows: int, dim: int, *, model: str, file: str | PurePath = "embeddings.npy") -> EmbeddingsRecord:
    """The ``embeddings`` entry: a float32 ``[rows, dim]`` ``.npy`` file beside the document."""
    return {
        "file": relative_path(file, "embeddings file"),
        "rows": _index(rows, "embeddings rows"),
        "dim": _index(dim, "embeddings dim", minimum=1),
        "model": _model_key(model, "embeddings model"),
    }


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def structure_document(
    *,
    video: VideoRecord,
    models: Mapping[str, ModelRecord],
    shots: Iterable[ShotRecord] = (),
    segments: Iterable[SegmentRecord] = (),
    windows: Iterable[WindowRecord] = (),
    actors: Iterable[ActorRecord] = (),
    thumbnails: Iterable[ThumbnailRecord] = (),
    embeddings: EmbeddingsRecord | None = None,
    profile: ProfileRecord | None = None,
    timings: Mapping[str, float] | None = None,
    warnings: Iterable[str] = (),
    created: str | None = None,
    skipped_stages: Iterable[str] = (),
    ran_stages: Iterable[str] = (),
) -> StructureDocument:
    """A whole document. ``timings``: seconds per stage (rounded to the ms); ``created``: ISO 8601 UTC
    (default: now); ``skipped_stages`` (none: the document has no ``stages``) and ``ran_stages``: the profile's
    stages an analysis skipped and those it ran. Not validated here:
    :func:`~vidstruct.structure.validate.validate_structure` or :func:`~vidstruct.structure.files.write_structure`
    do that."""
    stages: dict[str, float] = {}
    for stage, value in (timings or {}).items():
        if not isinstance(stage, str) or not _STAGE.match(stage):
            raise ValueError(f"timings: stage names are lowercase identifiers, got {stage!r}")
        stages[stage] = seconds(value, f"timings.{stage}")
    for key in models:
        _model_key(key, "models key")
    document: StructureDocument = {
        "format": FORMAT,
        "vidstruct_version": __version__,
        "created": created or _utc_now(),
        "video": video,
        "profile": profile,
        "models": dict(models),
        "shots": list(shots),
        "segments": list(segments),
        "windows": list(windows),
        "actors": list(actors),
        "thumbnails": list(thumbnails),
        "embeddings": embeddings,
        "timings": stages,
        "warnings": [_text(w, "warning") for w in warnings],
    }
    skipped = list(dict.fromkeys(skipped_stages))
    if skipped:
        document["stages"] = {"ran": list(dict.fromkeys(ran_stages)), "skipped": skipped}
    return document
