"""Streaming fixed-length windows over long videos with bounded memory.

``iter_windows(path, window_s=2.0, stride_s=1.0, fps=8)`` yields
:class:`Window` objects in time order. Each window holds
``round(window_s * fps)`` frames sampled at ``fps`` on its own grid
``start_s + m / fps``: sample ``m`` is the frame displayed at that time
(chosen by pts, so the source frame rate may be anything, even variable).

The whole video is read in one forward decode pass (the planner may seek
*forward* over gaps when ``stride_s > window_s``); only frames some window
uses are converted to RGB, straight into the buffer of the window that
needs it (copied to the next window's buffer when windows overlap); a
buffer leaves as soon as its window is complete. Memory is therefore
bounded by the windows that overlap one point in time (``ceil(window_s /
stride_s)`` buffers), whatever the video length
(``WindowStream.peak_frames_held`` reports the frame slots held). The
frame index (pts of every packet, found by demuxing without decoding)
costs 17 bytes per source frame.

A last window that runs past the end of the video (or past ``end_s``) is
padded by repeating the last frame, and ``num_valid`` says how many samples
are real; ``drop_last=True`` drops such windows instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidstruct.io.frame_buffers import empty_frames
from vidstruct.io.reader import VideoReader

_EPS = 1e-9


@dataclass
class Window:
    """One clip of a stream.

    - ``frames``: uint8 ``[T, H, W, C]`` RGB;
    - ``start_s`` / ``end_s``: window bounds, seconds from frame 0 (``end_s = start_s + window_s``);
    - ``timestamps_s``: float64 ``[T]`` sample times;
    - ``frame_indices``: int64 ``[T]`` source frame of each sample;
    - ``num_valid``: samples inside the video; later ones repeat the last frame.
    """

    frames: torch.Tensor
    start_s: float
    end_s: float
    timestamps_s: np.ndarray
    frame_indices: np.ndarray
    num_valid: int


class WindowStream:
    """Iterable of :class:`Window`; see :func:`iter_windows`. Reusable (each iteration re-reads)."""

    def __init__(
        self,
        path: str | Path,
        window_s: float,
        stride_s: float,
        fps: float,
        short_side: int | None = None,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
        drop_last: bool = False,
        **reader_kwargs: Any,
    ) -> None:
        if window_s <= 0 or stride_s <= 0 or fps <= 0:
            raise ValueError(f"window_s, stride_s and fps must be > 0 (got {window_s}, {stride_s}, {fps})")
        self.path = str(path)
        self.window_s = float(window_s)
        self.stride_s = float(stride_s)
        self.fps = float(fps)
        self.start_s = float(start_s)
        self.end_s = end_s
        self.drop_last = drop_last
        self.reader = VideoReader(path, short_side=short_side, **reader_kwargs)
        self.frames_per_window = max(1, round(self.window_s * self.fps))
        #: the most frame slots (window buffers x frames per window) held at once during the last iteration
        self.peak_frames_held = 0

    def _plan(self) -> list[tuple[float, np.ndarray, np.ndarray, int]]:
        """``(start_s, sample_times, frame_indices, num_valid)`` per window (indices only, no pixels)."""
        index = self.reader.index
        stop = index.duration_s if self.end_s is None else min(float(self.end_s), index.duration_s)
        offsets = np.arange(self.frames_per_window, dtype=np.float64) / self.fps
        last_valid = int(index.index_at(max(min(stop, index.duration_s) - 1e-6, 0.0))[0])
        windows = []
        j = 0
        while True:
            start = self.start_s + j * self.stride_s
            if start >= stop - _EPS:
                break
            if self.drop_last and start + self.window_s > stop + 1e-6:
                break
            times = start + offsets
            valid = times < stop - _EPS
            num_valid = int(valid.sum())
            idx = np.full(times.shape, last_valid, dtype=np.int64)
            if num_valid:
                idx[valid] = index.index_at(times[valid])
            windows.append((start, times, idx, num_valid))
            j += 1
        return windows

    def __iter__(self) -> Iterator[Window]:
        windows = self._plan()
        self.peak_frames_held = 0
        if not windows:
            return
        size = self.frames_per_window
        slots: dict[int, list[tuple[int, int]]] = defaultdict(list)  # frame index -> (window, sample) slots
        for w, (_, _, idx, _) in enumerate(windows):
            for m, i in enumerate(idx.tolist()):
                slots[i].append((w, m))
        buffers: dict[int, np.ndarray] = {}  # windows being filled, stored orientation
        missing = [size] * len(windows)
        ready = 0  # next window to yield
        reader = self.reader
        for i, frame in reader._decode_sorted(np.fromiter(slots, dtype=np.int64)):
            first: np.ndarray | None = None
            for w, m in slots.pop(i):
                if w not in buffers:
                    buffers[w] = empty_frames((size, *reader._stored_hw(frame), 3))
                    self.peak_frames_held = max(self.peak_frames_held, size * len(buffers))
                if first is None:  # converted straight into its first slot, copied to the others
                    reader._convert_into(frame, buffers[w][m])
                    first = buffers[w][m]
                else:
                    buffers[w][m] = first
                missing[w] -= 1
            while ready < len(windows) and missing[ready] == 0:
                yield self._window(windows[ready], buffers.pop(ready))
                ready += 1

    def _window(self, plan: tuple[float, np.ndarray, np.ndarray, int], frames: np.ndarray) -> Window:
        start, times, idx, num_valid = plan
        return Window(
            frames=self.reader._rotate(torch.from_numpy(frames)),
            start_s=float(start),
            end_s=float(start + self.window_s),
            timestamps_s=times,
            frame_indices=idx,
            num_valid=num_valid,
        )

    def __len__(self) -> int:
        return len(self._plan())


def iter_windows(
    path: str | Path,
    window_s: float,
    stride_s: float,
    fps: float,
    short_side: int | None = None,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    drop_last: bool = False,
    **reader_kwargs: Any,
) -> WindowStream:
    """Windows of ``window_s`` seconds every ``stride_s`` seconds, frames resampled to ``fps`` by pts.

    Returns an iterable :class:`WindowStream` (yielding :class:`Window`, frames
    uint8 ``[T, H, W, C]``); ``reader_kwargs`` go to :class:`VideoReader`
    (``threads``, ``max_pixels``...). Times are seconds from frame 0.
    """
    return WindowStream(
        path,
        window_s,
        stride_s,
        fps,
        short_side,
        start_s=start_s,
        end_s=end_s,
        drop_last=drop_last,
        **reader_kwargs,
    )
