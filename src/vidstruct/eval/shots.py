"""Shot boundary scoring: detected cuts against ground-truth transitions, F1 with a frame tolerance.

Protocol (this project's, stated here; not an official benchmark's):

- a ground-truth transition spans frames ``[start, stop]``: for a hard cut ``start == stop`` is the first
  frame of the new shot; for a gradual transition (dissolve, fade through black) ``start`` is the first
  frame that is no longer the pure outgoing shot and ``stop`` the first frame of the pure incoming shot;
- a detected cut is a frame index: the first frame of a new shot;
- a detection ``c`` may match a transition when ``start - tolerance <= c <= stop + tolerance``
  (``tolerance = 2`` frames by default), i.e. a hard cut within ±2 frames, a cut anywhere inside a
  gradual transition or within 2 frames of it;
- matching is one-to-one: candidate pairs are taken by increasing distance (0 inside the span, else
  frames to its nearer end), ties by earlier detection then earlier transition; a detection or a
  transition is used at most once. A second detection inside one transition is a false positive;
- precision = matched / detections (1 with no detection), recall = matched / transitions (1 with no
  transition), F1 their harmonic mean (0 when both are 0). Over several videos, counts are summed
  before the ratios (:meth:`CutScore.__add__`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CutScore", "score_cuts"]


@dataclass(frozen=True)
class CutScore:
    """Counts of one or more videos: ``tp`` matched detections, ``fp`` unmatched ones, ``fn`` missed transitions."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: CutScore) -> CutScore:
        return CutScore(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def score_cuts(detected: Sequence[int], transitions: Sequence[tuple[int, int]], *, tolerance: int = 2) -> CutScore:
    """Match detected cut frames to transition spans ``(start, stop)`` (see the module doc)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    cuts = [int(c) for c in detected]
    spans = [(int(a), int(b)) for a, b in transitions]
    for a, b in spans:
        if b < a:
            raise ValueError(f"transition span ({a}, {b}) ends before it starts")
    pairs = []
    for i, c in enumerate(cuts):
        for k, (a, b) in enumerate(spans):
            distance = max(a - c, c - b, 0)
            if distance <= tolerance:
                pairs.append((distance, i, k))
    used_cuts: set[int] = set()
    used_spans: set[int] = set()
    for _, i, k in sorted(pairs):
        if i not in used_cuts and k not in used_spans:
            used_cuts.add(i)
            used_spans.add(k)
    tp = len(used_cuts)
    return CutScore(tp=tp, fp=len(cuts) - tp, fn=len(spans) - tp)
