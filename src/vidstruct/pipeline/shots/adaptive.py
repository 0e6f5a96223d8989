"""Cuts from per-frame change scores with an adaptive threshold (as PySceneDetect's ``AdaptiveDetector``).

Frame ``i`` (``i >= 1``; frame 0 has no predecessor and no score) is a cut candidate when

- its *adaptive ratio* ``score[i] / mean(score[j] for 0 < |j - i| <= window)`` (neighbours inside the
  video only, frame 0 excluded; a zero mean gives :data:`RATIO_CAP`, capped as PySceneDetect does) is
  at least ``ratio_threshold``: the change stands out from the changes around it (camera motion raises
  them all), and
- ``score[i] >= min_score``: the change is large in absolute terms.

Minimum shot length: candidates are accepted by decreasing score, each only if it lies at least
``min_shot_s`` seconds after the first frame and from every cut already accepted (PySceneDetect
instead keeps the first candidate in time; keeping the strongest places a cut inside a dissolve on
its steepest frame).

Confidence of a cut: with ``m = min(ratio / ratio_threshold, score / min_score)``, the weaker of its
two margins over the thresholds (``m >= 1`` for every accepted cut), ``confidence = m² / (1 + m²)``:
0.5 at the thresholds, 0.8 at twice them, 0.94 at four times. It is a monotone score mapped to
``[0.5, 1)``, not a calibrated probability: it ranks this detector's cuts, and 0.5 marks its decision
boundary as TransNetV2's threshold does.
"""

from __future__ import annotations

import bisect

import numpy as np

__all__ = ["RATIO_CAP", "adaptive_cuts", "adaptive_ratios", "cut_confidence"]

RATIO_CAP = 255.0  #: adaptive ratio when the neighbours did not change at all
_ZERO = 1e-5


def adaptive_ratios(scores: np.ndarray, window: int, min_score: float) -> np.ndarray:
    """float64 ``[N]``: each frame's score over the mean of its ``window`` neighbours' on each side (0 for frame 0)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    valid = np.arange(n) >= 1
    csum = np.concatenate([[0.0], np.cumsum(np.where(valid, s, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(valid)])
    idx = np.arange(n)
    lo, hi = np.maximum(idx - window, 0), np.minimum(idx + window + 1, n)
    total = csum[hi] - csum[lo] - np.where(valid, s, 0.0)
    count = ccount[hi] - ccount[lo] - valid
    mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
    zero = mean < _ZERO
    ratio = np.divide(s, mean, out=np.zeros(n), where=~zero)
    ratio = np.where(zero & (s >= min_score), RATIO_CAP, np.minimum(ratio, RATIO_CAP))
    ratio[~valid] = 0.0
    return ratio


def cut_confidence(ratio: np.ndarray, score: np.ndarray, ratio_threshold: float, min_score: float) -> np.ndarray:
    """``m² / (1 + m²)`` with ``m = min(ratio / ratio_threshold, score / min_score)`` (see the module doc)."""
    margin = np.minimum(np.asarray(ratio) / ratio_threshold, np.asarray(score) / min_score)
    return margin**2 / (1.0 + margin**2)


def adaptive_cuts(
    scores: np.ndarray,
    timestamps_s: np.ndarray,
    *,
    ratio_threshold: float,
    window: int,
    min_score: float,
    min_shot_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(cut frames int64 [K] increasing, confidences float64 [K])`` for ``scores [N]`` at ``timestamps_s [N]``.

    A cut frame is the first frame of a new shot. See the module doc for the rule.
    """
    s = np.asarray(scores, dtype=np.float64)
    times = np.asarray(timestamps_s, dtype=np.float64)
    ratio = adaptive_ratios(s, window, min_score)
    candidates = np.flatnonzero((ratio >= ratio_threshold) & (s >= min_score) & (np.arange(s.size) >= 1))
    order = candidates[np.lexsort((candidates, -s[candidates]))]  # strongest first, earlier first on ties
    accepted: list[int] = []  # sorted frame indices (so sorted times)
    for i in order.tolist():
        if times[i] - times[0] < min_shot_s:
            continue
        k = bisect.bisect(accepted, i)
        near = accepted[max(k - 1, 0) : k + 1]  # the accepted cuts just before and after i
        if all(abs(times[i] - times[j]) >= min_shot_s for j in near):
            accepted.insert(k, i)
    cuts = np.asarray(accepted, dtype=np.int64)
    return cuts, cut_confidence(ratio[cuts], s[cuts], ratio_threshold, min_score)
