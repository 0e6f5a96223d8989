"""The rules of ``vidstruct.structure/1`` that a JSON Schema cannot express.

Run on a document that already conforms to the schema (:mod:`.schema`). In order:

- every ``model`` key (shots, segments, windows, actors, embeddings) is a key of ``models``,
  and that model does the right task: shots ← ``shots``; segments ← ``localization``
  (``source: localizer``) or ``recognition`` (``source: windows``); windows and embeddings ←
  ``recognition``; actors ← ``person-detection`` or ``action-detection``;
- shots: ``index`` equals the position, the first starts at 0 with confidence 1, each starts
  where the previous one ends, ``start_s < end_s``, the last ends at ``video.duration_s``
  (when known);
- segments and windows: ``start_s < end_s``; a segment's ``shot`` exists and holds it;
- nothing ends after ``video.duration_s`` (when known); actors and thumbnails lie within it;
- labels of segments, windows (``top``) and actors (``actions``) are among their model's
  ``classes`` when the model lists them, and are not repeated within one ``top`` /
  ``actions``; ``top`` is sorted by probability, highest first;
- boxes have ``x1 <= x2`` and ``y1 <= y2``;
- ``embedding_row`` needs ``embeddings``, is below ``embeddings.rows`` and is used once;
- thumbnails: ``ref`` names an existing shot / segment, each (kind, ref) appears once, and
  a shot or segment with a ``thumbnail`` has the matching entry in ``thumbnails``.

Times are compared with a tolerance of half a millisecond (:data:`TIME_TOLERANCE_S`), the
rounding of the document's times.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["TIME_TOLERANCE_S", "rule_problems"]

#: Two times closer than this (seconds) are equal: the document rounds times to the millisecond.
TIME_TOLERANCE_S = 0.0005

Problem = tuple[tuple[str | int, ...], str]

_TASKS: dict[str, tuple[str, ...]] = {
    "shots": ("shots",),
    "windows": ("recognition",),
    "actors": ("person-detection", "action-detection"),
    "embeddings": ("recognition",),
}
_SEGMENT_TASKS = {"localizer": "localization", "windows": "recognition"}


def rule_problems(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Every broken rule of a schema-valid document as ``(path parts, message)``, in document order."""
    duration = doc["video"]["duration_s"]
    yield from _models(doc)
    yield from _shots(doc["shots"], duration)
    yield from _segments(doc, duration)
    yield from _windows(doc, duration)
    yield from _actors(doc, duration)
    yield from _thumbnails(doc, duration)


def _task_of(item: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    if kind == "segments":
        return (_SEGMENT_TASKS[item["source"]],)
    return _TASKS[kind]


def _models(doc: Mapping[str, Any]) -> Iterator[Problem]:
    models = doc["models"]
    users: list[tuple[tuple[str | int, ...], str, Mapping[str, Any]]] = []
    for kind in ("shots", "segments", "windows", "actors"):
        users += [((kind, i, "model"), kind, item) for i, item in enumerate(doc[kind])]
    if doc["embeddings"] is not None:
        users.append((("embeddings", "model"), "embeddings", doc["embeddings"]))
    for where, kind, item in users:
        key = item["model"]
        if key not in models:
            known = ", ".join(repr(k) for k in models) or "none"
            yield where, f"model {key!r} is not a key of 'models' (keys: {known})"
            continue
        tasks = _task_of(item, kind)
        if models[key]["task"] not in tasks:
            what = f"{kind} with source {item['source']!r}" if kind == "segments" else kind
            yield (
                where,
                f"model {key!r} has task {models[key]['task']!r}; {what} come from a model of task "
                + (" or ".join(repr(t) for t in tasks)),
            )


def _after_end(t: float, duration: float | None) -> bool:
    return duration is not None and t > duration + TIME_TOLERANCE_S


def _span(where: tuple[str | int, ...], item: Mapping[str, Any], duration: float | None) -> Iterator[Problem]:
    if item["start_s"] >= item["end_s"]:
        yield (*where, "end_s"), f"end {item['end_s']} s is not after start {item['start_s']} s"
    elif _after_end(item["end_s"], duration):
        yield (*where, "end_s"), f"end {item['end_s']} s is after the video's end ({duration} s)"


def _shots(shots: Sequence[Mapping[str, Any]], duration: float | None) -> Iterator[Problem]:
    for i, shot in enumerate(shots):
        if shot["index"] != i:
            yield ("shots", i, "index"), f"expected index {i} (shots are listed in order), got {shot['index']}"
        if i == 0:
            if abs(shot["start_s"]) > TIME_TOLERANCE_S:
                yield ("shots", 0, "start_s"), f"the first shot starts at 0 s, got {shot['start_s']} s"
            if shot["confidence"] != 1:
                yield (
                    ("shots", 0, "confidence"),
                    f"the first shot has confidence 1 (no cut opens it), got {shot['confidence']}",
                )
        elif abs(shot["start_s"] - shots[i - 1]["end_s"]) > TIME_TOLERANCE_S:
            yield (
                ("shots", i, "start_s"),
                f"shots are contiguous: expected {shots[i - 1]['end_s']} s (the end of shot {i - 1}), "
                f"got {shot['start_s']} s",
            )
        yield from _span(("shots", i), shot, duration)
    if shots and duration is not None and abs(shots[-1]["end_s"] - duration) > TIME_TOLERANCE_S:
        last = len(shots) - 1
        yield (
            ("shots", last, "end_s"),
            f"the last shot ends at the video's duration {duration} s, got {shots[-1]['end_s']} s",
        )


def _classes(doc: Mapping[str, Any], key: str) -> Sequence[str] | None:
    model = doc["models"].get(key)
    return None if model is None else model["classes"]


def _label(where: tuple[str | int, ...], label: str, classes: Sequence[str] | None, key: str) -> Iterator[Problem]:
    if classes is not None and label not in classes:
        yield where, f"label {label!r} is not a class of model {key!r} ({len(classes)} classes)"


def _label_probs(
    where: tuple[str | int, ...], entries: Sequence[Mapping[str, Any]], classes: Sequence[str] | None, key: str
) -> Iterator[Problem]:
    seen: set[str] = set()
    for j, entry in enumerate(entries):
        yield from _label((*where, j, "label"), entry["label"], classes, key)
        if entry["label"] in seen:
            yield (*where, j, "label"), f"label {entry['label']!r} appears twice"
        seen.add(entry["label"])


def _segments(doc: Mapping[str, Any], duration: float | None) -> Iterator[Problem]:
    shots = doc["shots"]
    for i, seg in enumerate(doc["segments"]):
        yield from _span(("segments", i), seg, duration)
        yield from _label(("segments", i, "label"), seg["label"], _classes(doc, seg["model"]), seg["model"])
        if seg["shot"] is None:
            continue
        if seg["shot"] >= len(shots):
            yield ("segments", i, "shot"), f"shot {seg['shot']} does not exist ({len(shots)} shots)"
            continue
        shot = shots[seg["shot"]]
        if seg["start_s"] < shot["start_s"] - TIME_TOLERANCE_S or seg["end_s"] > shot["end_s"] + TIME_TOLERANCE_S:
            yield (
                ("segments", i, "shot"),
                f"segment [{seg['start_s']}, {seg['end_s']}] s is not inside shot {seg['shot']} "
                f"[{shot['start_s']}, {shot['end_s']}] s (use null for a segment that spans shots)",
            )


def _windows(doc: Mapping[str, Any], duration: float | None) -> Iterator[Problem]:
    embeddings = doc["embeddings"]
    rows_used: dict[int, int] = {}
    for i, win in enumerate(doc["windows"]):
        yield from _span(("windows", i), win, duration)
        top = win["top"]
        yield from _label_probs(("windows", i, "top"), top, _classes(doc, win["model"]), win["model"])
        for j in range(1, len(top)):
            if top[j]["prob"] > top[j - 1]["prob"]:
                yield ("windows", i, "top", j, "prob"), "top is sorted by probability, highest first"
        row = win["embedding_row"]
        if row is None:
            continue
        if embeddings is None:
            yield ("windows", i, "embedding_row"), "an embedding row needs 'embeddings' (it is null)"
        elif row >= embeddings["rows"]:
            yield (
                ("windows", i, "embedding_row"),
                f"row {row} is out of range (embeddings has {embeddings['rows']} rows)",
            )
        elif row in rows_used:
            yield ("windows", i, "embedding_row"), f"row {row} is already the row of window {rows_used[row]}"
        rows_used.setdefault(row, i)


def _actors(doc: Mapping[str, Any], duration: float | None) -> Iterator[Problem]:
    for i, actor in enumerate(doc["actors"]):
        if _after_end(actor["time_s"], duration):
            yield ("actors", i, "time_s"), f"{actor['time_s']} s is after the video's end ({duration} s)"
        x1, y1, x2, y2 = actor["box"]
        if x1 > x2:
            yield ("actors", i, "box", 2), f"x2 {x2} is left of x1 {x1} (boxes are [x1, y1, x2, y2])"
        if y1 > y2:
            yield ("actors", i, "box", 3), f"y2 {y2} is above y1 {y1} (boxes are [x1, y1, x2, y2])"
        yield from _label_probs(
            ("actors", i, "actions"), actor["actions"], _classes(doc, actor["model"]), actor["model"]
        )


def _thumbnails(doc: Mapping[str, Any], duration: float | None) -> Iterator[Problem]:
    owners = {"shot": doc["shots"], "segment": doc["segments"]}
    seen: dict[tuple[str, int], int] = {}
    for i, thumb in enumerate(doc["thumbnails"]):
        kind, ref = thumb["kind"], thumb["ref"]
        if _after_end(thumb["time_s"], duration):
            yield ("thumbnails", i, "time_s"), f"{thumb['time_s']} s is after the video's end ({duration} s)"
        if ref >= len(owners[kind]):
            yield ("thumbnails", i, "ref"), f"{kind} {ref} does not exist ({len(owners[kind])} {kind}s)"
            continue
        if (kind, ref) in seen:
            yield ("thumbnails", i, "ref"), f"{kind} {ref} already has thumbnail {seen[(kind, ref)]}"
        seen.setdefault((kind, ref), i)
        if owners[kind][ref]["thumbnail"] != thumb["path"]:
            yield (
                ("thumbnails", i, "path"),
                f"{kind} {ref} names thumbnail {owners[kind][ref]['thumbnail']!r}, this entry {thumb['path']!r}",
            )
    for kind, items in owners.items():
        for j, item in enumerate(items):
            if item["thumbnail"] is not None and (kind, j) not in seen:
                yield (f"{kind}s", j, "thumbnail"), f"{item['thumbnail']!r} has no entry in 'thumbnails'"
