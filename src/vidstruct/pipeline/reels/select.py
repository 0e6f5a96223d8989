"""Choosing a reel's segments: filter, best first under a time budget, then time order with overlaps merged.

Rule (times in seconds from the video's frame 0, as in the structure document):

1. candidates: segments whose label is ``label`` (or whose position is in ``segment_ids``), with
   ``score >= min_score``;
2. best first (score descending, then earlier start): a candidate is kept when the union of the kept
   segments, itself included, lasts at most ``max_s`` seconds; one that does not fit is skipped and the
   next (shorter) one is tried. When not even the best candidate fits, its first ``max_s`` seconds are kept;
3. the kept segments are put in time order and overlapping ones (``start < previous end``) merged into one
   part (its labels joined with ``" + "``, its score the best of them). Segments that only touch stay
   separate parts (and chapters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidstruct.pipeline.reels.errors import ReelError

__all__ = ["ReelPick", "choose_segments"]


@dataclass(frozen=True)
class ReelPick:
    """One part of a reel in source time: ``[start_s, end_s)`` seconds, its label(s), best score, segment positions."""

    start_s: float
    end_s: float
    label: str
    score: float
    segments: tuple[int, ...]

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _union_s(spans: Sequence[tuple[float, float]]) -> float:
    """Seconds covered by the union of ``[start, end)`` spans."""
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(spans):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def _candidates(
    segments: Sequence[dict[str, Any]], label: str | None, segment_ids: Sequence[int] | None, min_score: float
) -> list[int]:
    if segment_ids is not None:
        bad = [i for i in segment_ids if not 0 <= i < len(segments)]
        if bad:
            raise ReelError(f"segment id {bad[0]} does not exist (the document holds segments 0..{len(segments) - 1})")
        chosen = sorted(set(segment_ids))
    else:
        labels = {s["label"] for s in segments}
        if label not in labels:
            known = ", ".join(sorted(labels)) or "none"
            raise ReelError(f"label {label!r} is not in the document (its segment labels: {known})")
        chosen = [i for i, s in enumerate(segments) if s["label"] == label]
    picked = [i for i in chosen if segments[i]["score"] >= min_score and segments[i]["end_s"] > segments[i]["start_s"]]
    if not picked:
        what = f"label {label!r}" if segment_ids is None else "the given segment ids"
        raise ReelError(f"no segment of {what} has a score >= {min_score:g}")
    return picked


def choose_segments(
    segments: Sequence[dict[str, Any]],
    *,
    label: str | None = None,
    segment_ids: Sequence[int] | None = None,
    min_score: float = 0.0,
    max_s: float | None = None,
) -> list[ReelPick]:
    """The reel's parts (time order, non-overlapping) from a document's ``segments`` (see the module rule).

    Exactly one of ``label`` / ``segment_ids`` selects; ``max_s`` (seconds, > 0) caps the reel's length.
    Raises :class:`ReelError` for a label the document does not hold, an unknown segment id, no match,
    or ``max_s <= 0``.
    """
    if (label is None) == (segment_ids is None):
        raise ReelError("choose segments by a label or by segment ids (exactly one of them)")
    if max_s is not None and not max_s > 0:
        raise ReelError(f"--max-s must be > 0 seconds, got {max_s:g}")
    picked = _candidates(segments, label, segment_ids, min_score)
    order = sorted(picked, key=lambda i: (-segments[i]["score"], segments[i]["start_s"], i))
    spans: dict[int, tuple[float, float]] = {}
    for i in order:
        span = (float(segments[i]["start_s"]), float(segments[i]["end_s"]))
        if max_s is None or _union_s([*spans.values(), span]) <= max_s + 1e-9:
            spans[i] = span
    if not spans:  # not even the best one fits: keep its beginning
        best = order[0]
        start = float(segments[best]["start_s"])
        spans[best] = (start, start + float(max_s))  # type: ignore[arg-type]
    return _merge(segments, spans)


def _merge(segments: Sequence[dict[str, Any]], spans: dict[int, tuple[float, float]]) -> list[ReelPick]:
    parts: list[ReelPick] = []
    for i in sorted(spans, key=lambda k: (spans[k], k)):
        start, end = spans[i]
        label, score = segments[i]["label"], float(segments[i]["score"])
        if parts and start < parts[-1].end_s:
            prev = parts.pop()
            labels = prev.label.split(" + ")
            merged = prev.label if label in labels else f"{prev.label} + {label}"
            parts.append(
                ReelPick(prev.start_s, max(prev.end_s, end), merged, max(prev.score, score), (*prev.segments, i))
            )
        else:
            parts.append(ReelPick(start, end, label, score, (i,)))
    return parts
