"""TransNetV2 shot detection in streaming form: the original sliding-window protocol, chunk by chunk.

The original (``TransNetV2.predict_frames``) pads the video with :data:`CONTEXT_FRAMES` copies of its
first frame before and ``25 + 50 - (N mod 50 or 50)`` copies of its last frame after, runs the network
on windows of 100 frames every 50 and keeps the predictions of each window's 50 middle frames.
:class:`TransNetV2Detector` builds the same windows from frames pushed in chunks: it holds at most
``50 × (batch_windows - 1) + 100`` frames plus one chunk, runs each window once it is complete, and
adds the end padding at :meth:`close`. Windows are grouped into batches by their index alone, so the
scores do not depend on chunk sizes.

Per-frame score: the network's single-frame transition probability. Shots (as the original's
``predictions_to_scenes``): every run of consecutive frames scoring above ``threshold`` (0.5 by
default, as the original) is one transition; the new shot starts on the frame after the run's most
probable frame (for a hard cut, the network peaks on the last frame of the outgoing shot), and the
cut's confidence is that frame's probability. A run touching the first or the last frame opens no
shot (a fade-in at the start, a fade-out at the end).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vidstruct.device import resolve_device
from vidstruct.models.shots.transnetv2 import (
    CONTEXT_FRAMES,
    INPUT_HEIGHT,
    INPUT_WIDTH,
    STEP_FRAMES,
    WINDOW_FRAMES,
    TransNetV2Network,
    load_transnetv2,
)
from vidstruct.pipeline.shots.base import ShotDetector

__all__ = ["TransNetV2Detector", "transition_cuts"]


def transition_cuts(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(cut frames int64 [K], confidences float64 [K])`` from per-frame transition probabilities ``[N]``.

    Each maximal run of frames with ``score > threshold`` that touches neither frame 0 nor frame
    ``N - 1`` gives one cut, on the frame after the run's highest score; its confidence is that score.
    """
    above = np.concatenate([[False], np.asarray(scores) > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    cuts, confidences = [], []
    for start, stop in zip(edges[::2], edges[1::2]):  # run = frames [start, stop)
        if start == 0 or stop == len(scores):
            continue
        peak = start + int(np.argmax(scores[start:stop]))
        cuts.append(peak + 1)
        confidences.append(float(scores[peak]))
    return np.asarray(cuts, dtype=np.int64), np.asarray(confidences, dtype=np.float64)


class TransNetV2Detector(ShotDetector):
    """Learned shot detector: TransNetV2 on ``48 × 27`` RGB frames at the native frame rate.

    - ``network``: a loaded :class:`~vidstruct.models.shots.transnetv2.TransNetV2Network` to share
      between detectors (videos); by default one is loaded from the installed wheel on ``device``;
    - ``threshold``: transition probability above which a frame belongs to a transition (0.5);
    - ``device``: where the network runs (``auto``, ``cpu``, ``cuda``...), when ``network`` is not given;
    - ``batch_windows``: windows of 100 frames run together (more: faster on a GPU, more memory).
    """

    name = "transnetv2"
    frame_size = (INPUT_WIDTH, INPUT_HEIGHT)
    fps = None

    def __init__(
        self,
        network: TransNetV2Network | None = None,
        *,
        threshold: float = 0.5,
        device: str | torch.device = "cpu",
        batch_windows: int = 1,
    ) -> None:
        super().__init__()
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        if batch_windows < 1:
            raise ValueError(f"batch_windows must be >= 1, got {batch_windows}")
        self.network = network if network is not None else load_transnetv2(resolve_device(str(device)))
        self.threshold = float(threshold)
        self.batch_windows = int(batch_windows)
        self._reset()

    def settings(self) -> dict[str, Any]:
        weights = getattr(self.network, "weights_sha256", None)
        return {**super().settings(), "threshold": self.threshold, "weights_sha256": weights}

    # ------------------------------------------------------------------ streaming
    def _reset(self) -> None:
        self._buffer: np.ndarray | None = None  # padded frames from the start of the next window on
        self._num_frames = 0
        self._scores: list[np.ndarray] = []

    def _push_frames(self, frames: np.ndarray) -> None:
        if self._buffer is None:
            self._buffer = np.repeat(frames[:1], CONTEXT_FRAMES, axis=0)
        self._buffer = np.concatenate([self._buffer, frames])
        self._num_frames += frames.shape[0]
        self._run(final=False)

    def _finish(self, timestamps_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._buffer is not None
        remainder = self._num_frames % STEP_FRAMES or STEP_FRAMES
        pad_end = CONTEXT_FRAMES + STEP_FRAMES - remainder
        self._buffer = np.concatenate([self._buffer, np.repeat(self._buffer[-1:], pad_end, axis=0)])
        self._run(final=True)
        scores = np.concatenate(self._scores)[: self._num_frames]
        cuts, confidences = transition_cuts(scores, self.threshold)
        return scores, cuts, confidences

    def _run(self, *, final: bool) -> None:
        """Run every complete batch of windows in the buffer (``final``: also a last, smaller batch)."""
        assert self._buffer is not None
        while True:
            ready = (
                0
                if self._buffer.shape[0] < WINDOW_FRAMES
                else 1 + (self._buffer.shape[0] - WINDOW_FRAMES) // STEP_FRAMES
            )
            if ready == 0 or (ready < self.batch_windows and not final):
                return
            count = min(ready, self.batch_windows)
            windows = np.stack([self._buffer[k * STEP_FRAMES : k * STEP_FRAMES + WINDOW_FRAMES] for k in range(count)])
            probs = self._predict(windows)  # [count, 100]
            self._scores.extend(probs[:, CONTEXT_FRAMES : CONTEXT_FRAMES + STEP_FRAMES])
            self._buffer = self._buffer[count * STEP_FRAMES :].copy()

    def _predict(self, windows: np.ndarray) -> np.ndarray:
        """float32 ``[B, 100]`` probabilities for uint8 ``[B, 100, 27, 48, 3]`` windows."""
        device = next(self.network.parameters()).device
        with torch.inference_mode():
            probs = self.network(torch.from_numpy(windows).to(device))
        return probs.float().cpu().numpy()
