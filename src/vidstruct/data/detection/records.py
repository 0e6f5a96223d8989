"""AVA rows → keyframe records: one per ``(video, keyframe)``, each person's rows merged into one multi-label box.

Rows of the same person at a keyframe (same ``person_id``; rows without a person id: same box) become one box
whose actions are the union of the rows' actions. Videos are found as ``VIDEOS/<video_id>.<ext>``
(:data:`VIDEO_SUFFIXES`); a video that is missing is an :class:`~vidstruct.errors.InputError` naming it and
the folder (never a silent drop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vidstruct.data.records import BoxAnnotation
from vidstruct.errors import InputError

__all__ = ["VIDEO_SUFFIXES", "KeyframeRecord", "keyframe_records", "resolve_videos"]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class KeyframeRecord:
    """One keyframe: its video, time (seconds) and person boxes (normalized ``[x1, y1, x2, y2]``), each with its
    action ids (AVA ids, sorted), person id (-1: unknown) and score (1 for ground truth)."""

    video_id: str
    path: str
    time_s: float
    boxes: tuple[Box, ...]
    actions: tuple[tuple[int, ...], ...]
    person_ids: tuple[int, ...]
    scores: tuple[float, ...]


def resolve_videos(video_ids: Iterable[str], videos_dir: str | Path) -> dict[str, str]:
    """``{video_id: path}`` of ``videos_dir/<video_id><suffix>``; InputError naming the missing ones."""
    folder = Path(videos_dir)
    found: dict[str, str] = {}
    missing: list[str] = []
    for vid in dict.fromkeys(video_ids):
        path = next((folder / f"{vid}{s}" for s in VIDEO_SUFFIXES if (folder / f"{vid}{s}").is_file()), None)
        if path is None:
            missing.append(vid)
        else:
            found[vid] = str(path)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError(
            f"{folder}: no video file for {', '.join(repr(v) for v in missing[:3])}{more} "
            f"(expected <video_id> with one of {', '.join(VIDEO_SUFFIXES)})"
        )
    return found


def keyframe_records(rows: Iterable[BoxAnnotation], paths: Mapping[str, str]) -> list[KeyframeRecord]:
    """Group ``rows`` per keyframe (first-seen order) and merge each person's rows (see module doc).

    ``paths``: ``{video_id: video file}`` (:func:`resolve_videos`). An action id < 0 (a class-agnostic proposal)
    adds a box without actions. The box of a merged person is its first row's box.
    """
    frames: dict[tuple[str, float], dict[tuple, tuple[Box, set[int], float]]] = {}
    for row in rows:
        people = frames.setdefault((row.video_id, float(row.timestamp_s)), {})
        key = ("person", row.person_id) if row.person_id >= 0 else ("box", row.box)
        box, actions, score = people.get(key, (row.box, set(), 0.0))
        if row.action_id >= 0:
            actions.add(int(row.action_id))
        people[key] = (box, actions, max(score, float(row.score)))
    out = []
    for (vid, t), people in frames.items():
        if vid not in paths:
            raise InputError(f"video {vid!r}: no video file given for its annotations")
        out.append(
            KeyframeRecord(
                video_id=vid,
                path=paths[vid],
                time_s=t,
                boxes=tuple(box for box, _, _ in people.values()),
                actions=tuple(tuple(sorted(acts)) for _, acts, _ in people.values()),
                person_ids=tuple(k[1] if k[0] == "person" else -1 for k in people),
                scores=tuple(score for _, _, score in people.values()),
            )
        )
    return out
