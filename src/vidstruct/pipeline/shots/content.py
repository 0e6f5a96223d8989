"""Fast shot detection without a model: HSV histogram change between frames, with an adaptive threshold.

Per-frame score: the distance between the HSV histograms of a frame and of the frame before it
(:mod:`.histogram`, in ``[0, 1]``; 0 for the first frame). Cuts: :mod:`.adaptive` (the score must
stand out from its neighbours' by ``ratio_threshold`` and exceed ``min_score``; shots last at least
``min_shot_s``), confidence as documented there. Streaming holds one histogram (the last frame's)
and the scores; the cuts are chosen at :meth:`close` (the ratio needs ``window`` frames after each
candidate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidstruct.pipeline.shots.adaptive import adaptive_cuts
from vidstruct.pipeline.shots.base import ShotDetector
from vidstruct.pipeline.shots.histogram import histogram_distance, hsv_histograms

__all__ = ["ContentShotDetector"]


class ContentShotDetector(ShotDetector):
    """HSV-histogram content detector on small RGB frames at the native frame rate.

    - ``frame_size``: ``(width, height)`` of the frames it is fed (default ``64 × 36``);
    - ``ratio_threshold``: how many times a frame's score must exceed its neighbours' mean (3.0, as PySceneDetect);
    - ``window``: neighbours on each side in that mean (2, as PySceneDetect);
    - ``min_score``: the least histogram distance of a cut, in ``[0, 1]``;
    - ``min_shot_s``: the shortest shot, seconds (0.6 s: PySceneDetect's 15 frames at 25 fps).
    """

    name = "content"
    fps = None

    def __init__(
        self,
        *,
        frame_size: tuple[int, int] = (64, 36),
        ratio_threshold: float = 3.0,
        window: int = 2,
        min_score: float = 0.15,
        min_shot_s: float = 0.6,
    ) -> None:
        super().__init__()
        width, height = (int(v) for v in frame_size)
        if width < 1 or height < 1:
            raise ValueError(f"frame_size must be positive (width, height), got {frame_size}")
        if ratio_threshold <= 1.0 or window < 1 or not 0.0 < min_score <= 1.0 or min_shot_s < 0.0:
            raise ValueError(
                "expected ratio_threshold > 1, window >= 1, 0 < min_score <= 1, min_shot_s >= 0; got "
                f"{ratio_threshold}, {window}, {min_score}, {min_shot_s}"
            )
        self.frame_size = (width, height)
        self.ratio_threshold = float(ratio_threshold)
        self.window = int(window)
        self.min_score = float(min_score)
        self.min_shot_s = float(min_shot_s)
        self._reset()

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "ratio_threshold": self.ratio_threshold,
            "window": self.window,
            "min_score": self.min_score,
            "min_shot_s": self.min_shot_s,
        }

    def _reset(self) -> None:
        self._previous: np.ndarray | None = None  # histogram of the last frame pushed, int [1, 64]
        self._scores: list[np.ndarray] = []

    def _push_frames(self, frames: np.ndarray) -> None:
        hist = hsv_histograms(frames)
        before = np.concatenate([hist[:1] if self._previous is None else self._previous, hist[:-1]])
        self._scores.append(histogram_distance(hist, before))
        self._previous = hist[-1:]

    def _finish(self, timestamps_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores = np.concatenate(self._scores)
        cuts, confidences = adaptive_cuts(
            scores,
            timestamps_s,
            ratio_threshold=self.ratio_threshold,
            window=self.window,
            min_score=self.min_score,
            min_shot_s=self.min_shot_s,
        )
        return scores, cuts, confidences
