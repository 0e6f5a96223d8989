"""Segments of a video: recognition windows merged per label, or localizer segments cut at shot boundaries.

**Windows → segments** (when no localizer is given; the rule of AWS Rekognition's ``AggregateBy=SEGMENTS``:
occurrences of one label close in time become one segment), :func:`merge_windows`:

1. a window *votes* for its top label (highest probability) when that probability is at least ``min_prob``;
   other windows vote for nothing;
2. labels are merged independently, in time order: a window voting for label ``L`` joins the open segment of
   ``L`` when it starts at most ``gap_tolerance_s`` seconds after that segment ends (overlapping windows have
   a negative gap and always join), otherwise it opens a new segment of ``L``; so windows of another label
   in between do not split a segment when the gap they leave is within the tolerance;
3. unless ``cross_shots``, a window belongs to the shot holding its centre, windows of different shots never
   join, and each segment is clipped to its shot's span (``shot`` = that shot's index);
4. a segment spans from its first window's start to its last window's end (clipped to the video), and its
   ``score`` is the ``mean`` (default) or ``max`` of the top-label probabilities of its windows: a probability;
5. segments shorter than ``min_duration_s`` are dropped; the rest are sorted by start, then label.

With overlapping windows, the segments of two labels that follow each other overlap by up to
``window_s - stride_s``.

**Localizer segments**, :func:`split_at_shots`: unless ``cross_shots``, a segment crossing shot boundaries
is cut into one piece per shot it overlaps, each keeping the label and score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["MergeSettings", "Span", "merge_windows", "shot_of", "split_at_shots"]

Aggregate = Literal["mean", "max"]
#: the shortest span kept (seconds): the document rounds times to the millisecond
MIN_SPAN_S = 0.001


@dataclass(frozen=True)
class MergeSettings:
    """How segments are made (see the module doc); times in seconds, ``min_prob`` a probability."""

    gap_tolerance_s: float = 0.5
    min_prob: float = 0.3
    cross_shots: bool = False
    aggregate: Aggregate = "mean"
    min_duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.gap_tolerance_s < 0 or not 0 <= self.min_prob <= 1 or self.min_duration_s < 0:
            raise ValueError(f"invalid merge settings {self}")
        if self.aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate must be 'mean' or 'max', got {self.aggregate!r}")


@dataclass(frozen=True)
class Span:
    """A labelled span ``[start_s, end_s)`` (seconds) with a probability ``score``; ``shot``: the index of the
    shot holding it (None when shots were not detected or it spans several); ``windows``: the windows merged
    into it (empty for localizer segments)."""

    label: str
    start_s: float
    end_s: float
    score: float
    shot: int | None = None
    windows: tuple[int, ...] = field(default=())


def shot_of(time_s: float, shot_starts_s: Sequence[float]) -> int:
    """Index of the shot holding ``time_s`` (shots given by their start times, the first at 0)."""
    return max(0, int(np.searchsorted(np.asarray(shot_starts_s), time_s, side="right")) - 1)


def _holding_shot(start_s: float, end_s: float, shots: Sequence[tuple[float, float]]) -> int | None:
    for k, (a, b) in enumerate(shots):
        if a <= start_s and end_s <= b:
            return k
    return None


def merge_windows(
    starts_s: np.ndarray,
    ends_s: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    settings: MergeSettings,
    *,
    shots: Sequence[tuple[float, float]] = (),
    duration_s: float | None = None,
) -> list[Span]:
    """Segments from windows (see the module doc).

    ``starts_s`` / ``ends_s``: float ``[W]`` window bounds in seconds, in time order; ``probs``: float
    ``[W, K]`` class probabilities; ``shots``: ``[(start_s, end_s)]`` contiguous, in order (empty: no shots).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(starts_s) or probs.shape[1] != len(classes):
        raise ValueError(f"probs {probs.shape} does not match {len(starts_s)} windows x {len(classes)} classes")
    end_cap = float("inf") if duration_s is None else float(duration_s)
    use_shots = bool(shots) and not settings.cross_shots
    shot_starts = [a for a, _ in shots]
    open_: dict[tuple[int, int | None], list[int]] = {}  # (label, shot) -> windows of the open segment
    closed: list[tuple[int, int | None, list[int]]] = []
    for w in range(probs.shape[0]):
        label = int(np.argmax(probs[w]))
        if probs[w, label] < settings.min_prob:
            continue
        shot = shot_of((starts_s[w] + min(ends_s[w], end_cap)) / 2, shot_starts) if use_shots else None
        key = (label, shot)
        current = open_.get(key)
        if current is not None and starts_s[w] - max(ends_s[i] for i in current) <= settings.gap_tolerance_s:
            current.append(w)
            continue
        if current is not None:
            closed.append((label, shot, current))
        open_[key] = [w]
    closed.extend((label, shot, ws) for (label, shot), ws in open_.items())
    out: list[Span] = []
    for label, shot, ws in closed:
        start = float(starts_s[ws[0]])
        end = min(float(max(ends_s[i] for i in ws)), end_cap)
        if shot is not None:
            start, end = max(start, shots[shot][0]), min(end, shots[shot][1])
        values = probs[ws, label]
        score = float(values.mean() if settings.aggregate == "mean" else values.max())
        if end - start < max(settings.min_duration_s, MIN_SPAN_S):
            continue
        if shot is None and shots:
            shot = _holding_shot(start, end, shots)
        out.append(Span(classes[label], start, end, score, shot, tuple(ws)))
    out.sort(key=lambda s: (s.start_s, s.label))
    return out


def split_at_shots(
    spans: Sequence[Span], shots: Sequence[tuple[float, float]], *, cross_shots: bool, min_duration_s: float = 0.0
) -> list[Span]:
    """Localizer segments cut at shot boundaries (see the module doc), shorter than ``min_duration_s`` dropped;
    with ``cross_shots`` (or no shots) each keeps its span and gets the shot holding it, if one does."""
    out: list[Span] = []
    for span in spans:
        if cross_shots or not shots:
            pieces = [(span.start_s, span.end_s, _holding_shot(span.start_s, span.end_s, shots))]
        else:
            pieces = [
                (max(span.start_s, a), min(span.end_s, b), k)
                for k, (a, b) in enumerate(shots)
                if min(span.end_s, b) > max(span.start_s, a)
            ]
        for start, end, shot in pieces:
            if end - start >= max(min_duration_s, MIN_SPAN_S):
                out.append(Span(span.label, start, end, span.score, shot))
    return out
