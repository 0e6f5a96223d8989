"""iter_windows: order, times, frame choice by pts, padding and the memory bound."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from videokit import VFR_TIMES, id_video, read_ids

from vidstruct.io import VideoReader, iter_windows


def test_windows_in_order_with_hand_computed_times_and_frames(videos: dict[str, Path]) -> None:
    # fps25: 50 frames, 2 s. Windows of 1 s every 0.5 s at 8 fps -> 8 samples at start + m / 8
    stream = iter_windows(videos["fps25"], window_s=1.0, stride_s=0.5, fps=8)
    windows = list(stream)
    assert [w.start_s for w in windows] == [0.0, 0.5, 1.0, 1.5]
    assert [w.end_s for w in windows] == [1.0, 1.5, 2.0, 2.5]
    for w in windows:
        times = w.start_s + np.arange(8) / 8
        np.testing.assert_allclose(w.timestamps_s, times)
        # frame k of a 25 fps video is shown during [k/25, (k+1)/25); past 2 s the last frame repeats
        expected = [min(math.floor(t * 25 + 1e-9), 49) for t in times]
        assert w.frame_indices.tolist() == expected
        assert read_ids(w.frames) == expected
        assert w.frames.shape == (8, 64, 64, 3) and w.frames.dtype == torch.uint8
    assert [w.num_valid for w in windows] == [8, 8, 8, 4]  # the last window reaches past 2 s
    assert len(stream) == 4


def test_window_frames_equal_random_access_frames(videos: dict[str, Path]) -> None:
    reader = VideoReader(videos["gop10"])
    for w in iter_windows(videos["gop10"], window_s=0.8, stride_s=0.6, fps=5, short_side=32):
        assert torch.equal(w.frames, VideoReader(videos["gop10"], short_side=32).get_frames(w.frame_indices))
        assert w.frames.shape[1:] == (32, 32, 3)
    assert reader.num_frames == 60


def test_drop_last_and_time_range(videos: dict[str, Path]) -> None:
    windows = list(iter_windows(videos["fps25"], window_s=0.6, stride_s=0.5, fps=5, drop_last=True))
    assert [w.start_s for w in windows] == [0.0, 0.5, 1.0]  # 1.5 + 0.6 > 2.0 is dropped
    assert all(w.num_valid == 3 for w in windows)
    ranged = list(iter_windows(videos["fps25"], window_s=0.4, stride_s=0.4, fps=5, start_s=0.8, end_s=1.6))
    assert [round(w.start_s, 6) for w in ranged] == [0.8, 1.2]
    assert [w.frame_indices.tolist() for w in ranged] == [[20, 25], [30, 35]]  # 2 samples: start, start + 0.2 s


def test_variable_frame_rate_windows_pick_frames_by_pts(videos: dict[str, Path]) -> None:
    (window,) = iter_windows(videos["vfr"], window_s=1.25, stride_s=2.0, fps=4)
    times = np.arange(5) / 4  # 0, 0.25, 0.5, 0.75, 1.0
    expected = [max(i for i, ts in enumerate(VFR_TIMES) if ts <= t + 1e-9) for t in times]
    assert expected == [0, 2, 5, 5, 8]
    assert read_ids(window.frames) == expected


def test_sparse_windows_seek_forward_over_gaps(tmp_path: Path) -> None:
    path = id_video(tmp_path / "long.mp4", 250, 25, gop=25)  # 10 s, keyframe every second
    stream = iter_windows(path, window_s=0.6, stride_s=3.0, fps=5)
    windows = list(stream)
    assert [w.frame_indices.tolist() for w in windows] == [[0, 5, 10], [75, 80, 85], [150, 155, 160], [225, 230, 235]]
    assert [read_ids(w.frames) for w in windows] == [w.frame_indices.tolist() for w in windows]
    stats = stream.reader.stats
    assert stats.seeks == 4  # one forward jump per window instead of decoding the gaps
    assert stats.decoded <= 4 * 11


def test_memory_is_bounded_by_the_window_not_the_video(tmp_path: Path) -> None:
    short = id_video(tmp_path / "short.mp4", 50, 25, gop=25)  # 2 s
    long = id_video(tmp_path / "long.mp4", 500, 25, gop=25)  # 20 s
    peaks = []
    for path in (short, long):
        stream = iter_windows(path, window_s=1.0, stride_s=0.5, fps=10)
        count = sum(1 for _ in stream)
        peaks.append(stream.peak_frames_held)
        assert count == round(stream.reader.duration_s / 0.5)
    # windows of 1 s every 0.5 s: two windows (2 x 10 frames) are open at once, whatever the length
    assert peaks[0] == peaks[1] == 20
    disjoint = iter_windows(long, window_s=1.0, stride_s=1.0, fps=10)
    assert sum(1 for _ in disjoint) == 20 and disjoint.peak_frames_held == 10  # one window at a time


def test_rejects_bad_parameters(videos: dict[str, Path]) -> None:
    with pytest.raises(ValueError):
        iter_windows(videos["fps25"], window_s=0, stride_s=1, fps=8)
    with pytest.raises(ValueError):
        iter_windows(videos["fps25"], window_s=1, stride_s=1, fps=-1)


def test_windows_of_a_rotated_video_are_rotated(tmp_path: Path) -> None:
    from videokit import write_rotated

    path = write_rotated(tmp_path / "rot.mp4", 90, num_frames=10)
    (window,) = iter_windows(path, window_s=0.4, stride_s=0.4, fps=10)
    assert window.frames.shape == (4, 64, 32, 3)  # stored 32 x 64, displayed 64 x 32
    assert torch.equal(window.frames, VideoReader(path).get_frames(window.frame_indices))
