"""Person boxes read from a proposals file (precomputed person detections, e.g. AVA's published ones).

Formats (by file suffix):

- ``.csv``: AVA-style rows ``video_id,timestamp,x1,y1,x2,y2,[action_id],score`` without a header
  (:func:`vidstruct.data.formats.ava.read_ava_proposals`), boxes normalized to ``[0, 1]``;
- ``.pkl`` / ``.pickle``: ``{"video_id,keyframe": array [N, 5]}`` with rows ``x1, y1, x2, y2, score``
  (normalized; up to 0.01 outside ``[0, 1]`` is clipped), read with the restricted unpickler
  (:func:`vidstruct.data.formats.ava.read_ava_proposals_pickle`: no code in the file runs).

A video's id is the stem of its file (``videos/abc.mp4`` → ``abc``); a requested time matches the keyframe
within :data:`TIME_TOLERANCE_S`. A keyframe (or a whole video) the file has no boxes for gives an empty
:class:`~vidstruct.pipeline.persons.KeyframeBoxes`; zero-area boxes (``x1 == x2`` or ``y1 == y2``) are left
out (they cannot hold a person), and the count is logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vidstruct.data.formats.ava import read_ava_proposals, read_ava_proposals_pickle
from vidstruct.errors import InputError
from vidstruct.pipeline.persons import KeyframeBoxes

__all__ = ["TIME_TOLERANCE_S", "ProposalsSource"]

log = logging.getLogger(__name__)

TIME_TOLERANCE_S = 1e-3
"""A requested time and a keyframe of the file match when they differ by at most this (seconds)."""

CSV_SUFFIXES = (".csv",)
PICKLE_SUFFIXES = (".pkl", ".pickle")


class _Keyframes:
    """One video's keyframes: sorted times and, per time, ``(boxes [N, 4], scores [N])`` (score descending)."""

    def __init__(self, frames: dict[float, tuple[np.ndarray, np.ndarray]]) -> None:
        self.times = np.array(sorted(frames), dtype=np.float64)
        self.frames = [frames[t] for t in self.times.tolist()]

    def at(self, time_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The boxes of the first keyframe within :data:`TIME_TOLERANCE_S` of ``time_s``, else ``None``."""
        i = int(np.searchsorted(self.times, time_s - TIME_TOLERANCE_S))
        if i < self.times.size and self.times[i] <= time_s + TIME_TOLERANCE_S:
            return self.frames[i]
        return None


def _sorted(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    return boxes[order].astype(np.float32), scores[order].astype(np.float32)


class ProposalsSource:
    """Person boxes looked up in a proposals file (see the module doc); ``min_score`` filters the score column."""

    def __init__(self, path: str | Path, *, min_score: float = 0.0) -> None:
        self.path = str(path)
        self.min_score = float(min_score)
        suffix = Path(path).suffix.lower()
        if suffix in CSV_SUFFIXES + PICKLE_SUFFIXES:
            rows = self._read(suffix in PICKLE_SUFFIXES)
        else:
            known = ", ".join(CSV_SUFFIXES + PICKLE_SUFFIXES)
            raise InputError(f"{path}: unknown proposals format {suffix or '(no suffix)'!r} (expected {known})")
        self._videos, dropped = self._index(rows)
        if dropped:
            log.warning("%s: left out %d zero-area boxes", self.path, dropped)

    @property
    def name(self) -> str:
        return self.path

    def _read(self, pickle: bool) -> dict[tuple[str, float], list[tuple[tuple[float, float, float, float], float]]]:
        rows: dict[tuple[str, float], list[tuple[tuple[float, float, float, float], float]]] = defaultdict(list)
        reader = read_ava_proposals_pickle if pickle else read_ava_proposals
        for row in reader(self.path, min_score=self.min_score):
            rows[(row.video_id, row.timestamp_s)].append((row.box, row.score))
        return rows

    @staticmethod
    def _index(
        rows: dict[tuple[str, float], list[tuple[tuple[float, float, float, float], float]]],
    ) -> tuple[dict[str, _Keyframes], int]:
        per_video: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        dropped = 0
        for (video_id, time_s), items in rows.items():
            boxes = np.clip(np.array([b for b, _ in items], dtype=np.float64).reshape(-1, 4), 0.0, 1.0)
            scores = np.array([s for _, s in items], dtype=np.float64)
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            dropped += int((~keep).sum())
            per_video[video_id][time_s] = _sorted(boxes[keep], scores[keep])
        return {vid: _Keyframes(frames) for vid, frames in per_video.items()}, dropped

    @property
    def video_ids(self) -> list[str]:
        """Ids of the videos the file has boxes for."""
        return sorted(self._videos)

    def boxes_at(self, video_path: str | Path, times_s: Sequence[float]) -> list[KeyframeBoxes]:
        """One :class:`KeyframeBoxes` per time; empty where the file has no boxes for the keyframe."""
        video_id = Path(video_path).stem
        frames = self._videos.get(video_id)
        if frames is None:
            log.warning("%s: no proposals for video id %r (the video file's stem)", self.path, video_id)
        out = []
        for t in times_s:
            found = frames.at(float(t)) if frames is not None else None
            boxes, scores = found if found is not None else (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
            boxes_t, scores_t = torch.from_numpy(boxes.copy()), torch.from_numpy(scores.copy())
            out.append(KeyframeBoxes(float(t), boxes_t, scores_t, self.name))
        return out
