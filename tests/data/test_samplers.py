"""Frame indices of every sampler on hand-computed cases (arithmetic in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

import vidstruct.data.samplers  # noqa: F401  (registers the samplers)
from vidstruct.data.samplers import DenseSampler, IntervalSampler, MultiViewSampler, SegmentSampler
from vidstruct.errors import ConfigError, InputError
from vidstruct.registry import SAMPLERS


def _as_lists(clips: list[np.ndarray]) -> list[list[int]]:
    assert all(c.dtype == np.int64 for c in clips)
    return [c.tolist() for c in clips]


# ---------------------------------------------------------------- interval, test mode


def test_interval_test_mode_three_clips() -> None:
    # clip_len 4, interval 2: rel = [0, 2, 4, 6], span = 7; n = 10 -> P = 10 - 7 + 1 = 4 valid offsets
    # avg = 4/3; offsets = int(2/3 + 4/3*i) = int(0.67), int(2.0), int(3.33) = 0, 2, 3
    clips = IntervalSampler(clip_len=4, frame_interval=2, num_clips=3)(10, 30.0)
    assert _as_lists(clips) == [[0, 2, 4, 6], [2, 4, 6, 8], [3, 5, 7, 9]]


def test_interval_single_clip_is_centred() -> None:
    # clip_len 3, interval 5: rel = [0, 5, 10], span 11; n = 100 -> P = 90, avg = 90, offset = int(45) = 45
    assert _as_lists(IntervalSampler(3, 5, 1)(100, 25.0)) == [[45, 50, 55]]


@pytest.mark.parametrize(
    ("src_fps", "expected"),
    [
        # step = 2 * 30 / 15 = 4 -> rel 0,4,..,28, span 29, P = 100 - 29 + 1 = 72, offset int(36) = 36
        (30.0, [36, 40, 44, 48, 52, 56, 60, 64]),
        # step = 2 * 24 / 15 = 3.2 -> round(0, 3.2, 6.4, 9.6, 12.8, 16, 19.2, 22.4) = 0,3,6,10,13,16,19,22
        # span 23, P = 78, offset 39 -> 39,42,45,49,52,55,58,61
        (24.0, [39, 42, 45, 49, 52, 55, 58, 61]),
        # step = 2 * 60 / 15 = 8 -> rel 0..56, span 57, P = 44, offset 22
        (60.0, [22, 30, 38, 46, 54, 62, 70, 78]),
    ],
)
def test_interval_target_fps_keeps_time_span(src_fps: float, expected: list[int]) -> None:
    clips = IntervalSampler(clip_len=8, frame_interval=2, num_clips=1, target_fps=15.0)(100, src_fps)
    assert _as_lists(clips) == [expected]
    # the clip spans 7 intervals of 2/15 s = 0.933 s at every source fps (within one source frame)
    span_s = (expected[-1] - expected[0]) / src_fps
    assert abs(span_s - 14 / 15) <= 1 / src_fps


def test_interval_rounds_half_up() -> None:
    # step = 1 * 25 / 10 = 2.5 -> round-half-up(0, 2.5, 5, 7.5) = 0, 3, 5, 8 (numpy's round would give 2 and 8)
    sampler = IntervalSampler(clip_len=4, frame_interval=1, num_clips=1, target_fps=10.0)
    np.testing.assert_array_equal(sampler.relative_indices(25.0), [0, 3, 5, 8])
    # span 9, n = 9 -> P = 1, avg = 1, offset int(0.5) = 0
    assert _as_lists(sampler(9, 25.0)) == [[0, 3, 5, 8]]


def test_interval_short_video_repeats_last_frame() -> None:
    # rel = 0,2,..,14 (span 15) > n = 10: offset 0, indices >= 10 clamp to 9
    expected = [[0, 2, 4, 6, 8, 9, 9, 9]]
    sampler = IntervalSampler(clip_len=8, frame_interval=2, num_clips=1)
    assert _as_lists(sampler(10, 30.0)) == expected
    assert _as_lists(sampler(10, 30.0, np.random.default_rng(3))) == expected


def test_interval_single_frame_video() -> None:
    assert _as_lists(IntervalSampler(4, 1, 2)(1, 30.0)) == [[0, 0, 0, 0], [0, 0, 0, 0]]


# ---------------------------------------------------------------- interval, training


def test_interval_training_offsets_stay_in_their_chunks_and_cover_them() -> None:
    # clip_len 4, interval 2: span 7; n = 50 -> P = 44 valid offsets, chunks
    # [0*44//3, 1*44//3) = [0, 14), [14, 29), [29, 44)
    sampler = IntervalSampler(clip_len=4, frame_interval=2, num_clips=3)
    rng = np.random.default_rng(0)
    seen: list[set[int]] = [set(), set(), set()]
    for _ in range(400):
        clips = sampler(50, 30.0, rng)
        for i, clip in enumerate(clips):
            np.testing.assert_array_equal(np.diff(clip), [2, 2, 2])
            seen[i].add(int(clip[0]))
    assert seen == [set(range(0, 14)), set(range(14, 29)), set(range(29, 44))]


def test_interval_training_is_reproducible_with_a_seed() -> None:
    sampler = IntervalSampler(clip_len=8, frame_interval=4, num_clips=2, target_fps=30.0)
    a = sampler(300, 60.0, np.random.default_rng(123))
    b = sampler(300, 60.0, np.random.default_rng(123))
    c = sampler(300, 60.0, np.random.default_rng(124))
    assert _as_lists(a) == _as_lists(b)
    assert _as_lists(a) != _as_lists(c)


def test_interval_training_more_clips_than_offsets() -> None:
    # span 7, n = 8 -> P = 2 offsets, 3 clips: chunks lo = (0, 0, 1), hi = (0, 1, 2)
    # clip 0: empty chunk -> 0; clip 1: [0, 1) -> 0; clip 2: [1, 2) -> 1 (no randomness left)
    clips = IntervalSampler(4, 2, 3)(8, 30.0, np.random.default_rng(7))
    assert _as_lists(clips) == [[0, 2, 4, 6], [0, 2, 4, 6], [1, 3, 5, 7]]


# ---------------------------------------------------------------- segment (TSN)


def test_segment_test_mode_centres() -> None:
    # n = 10, K = 4: int(2.5 * (k + 0.5)) = int(1.25), int(3.75), int(6.25), int(8.75) = 1, 3, 6, 8
    assert _as_lists(SegmentSampler(4)(10, 30.0)) == [[1, 3, 6, 8]]


def test_segment_training_one_frame_per_segment() -> None:
    # n = 10, K = 4: segments [0, 2), [2, 5), [5, 7), [7, 10)
    rng = np.random.default_rng(1)
    seen: list[set[int]] = [set() for _ in range(4)]
    for _ in range(200):
        (clip,) = SegmentSampler(4)(10, 30.0, rng)
        for k, idx in enumerate(clip):
            seen[k].add(int(idx))
    assert seen == [{0, 1}, {2, 3, 4}, {5, 6}, {7, 8, 9}]


def test_segment_short_video() -> None:
    # n = 3, K = 5 test: int(0.6 * (k + 0.5)) = int(0.3, 0.9, 1.5, 2.1, 2.7) = 0, 0, 1, 2, 2
    assert _as_lists(SegmentSampler(5)(3, 30.0)) == [[0, 0, 1, 2, 2]]
    # training: lo = k*3//5 = 0,0,1,1,2; hi = (k+1)*3//5 = 0,1,1,2,3 -> empty, [0,1), empty, [1,2), [2,3)
    assert _as_lists(SegmentSampler(5)(3, 30.0, np.random.default_rng(0))) == [[0, 0, 1, 1, 2]]


# ---------------------------------------------------------------- dense windows


def test_dense_windows_cover_video_last_clamped() -> None:
    # clip_len 4, stride 4, n = 10: starts 0, 4, 8 (8 + 3 >= 9 stops); last window 8, 9, 10->9, 11->9
    clips = DenseSampler(clip_len=4, stride=4)(10, 30.0)
    assert _as_lists(clips) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]


def test_dense_windows_exact_fit_adds_no_extra_window() -> None:
    # n = 8: starts 0 (0 + 3 < 7 -> next), 4 (4 + 3 = 7 reaches the last frame -> stop)
    assert _as_lists(DenseSampler(4, 4)(8, 30.0)) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_dense_windows_at_target_fps() -> None:
    # src 25 fps, target 10: step = 25/10 = 2.5 -> rel = round(0, 2.5, 5, 7.5) = 0, 3, 5, 8
    # stride 2 frames at 10 fps = 5 source frames: starts 0, 5, 10, 15 (15 + 8 >= 19 stops), n = 20
    clips = DenseSampler(clip_len=4, stride=2, frame_interval=1, target_fps=10.0)(20, 25.0)
    assert _as_lists(clips) == [[0, 3, 5, 8], [5, 8, 10, 13], [10, 13, 15, 18], [15, 18, 19, 19]]


def test_dense_overlapping_windows() -> None:
    # clip_len 4, stride 2, n = 9: starts 0, 2, 4, 6? 4 + 3 = 7 < 8 -> 6; 6 + 3 = 9 >= 8 stop
    clips = DenseSampler(4, 2)(9, 30.0)
    assert _as_lists(clips) == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 8]]


def test_dense_video_shorter_than_window() -> None:
    assert _as_lists(DenseSampler(4, 4)(2, 30.0)) == [[0, 1, 1, 1]]


# ---------------------------------------------------------------- multi-view plans


def test_multiview_plan_temporal_times_spatial() -> None:
    # clip_len 4, span 4, n = 20 -> P = 17, avg = 8.5, offsets int(4.25) = 4, int(12.75) = 12
    plan = MultiViewSampler(clip_len=4, frame_interval=1, temporal_views=2, spatial_crops=3).plan(20, 30.0)
    assert len(plan) == 6
    assert [(v.clip_index, v.crop_index) for v in plan.views] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert [v.indices.tolist() for v in plan.views[::3]] == [[4, 5, 6, 7], [12, 13, 14, 15]]
    assert plan.crop_indices() == [0, 1, 2, 0, 1, 2]


def test_multiview_single_crop_is_centre() -> None:
    sampler = MultiViewSampler(clip_len=2, frame_interval=1, temporal_views=1, spatial_crops=1)
    plan = sampler.plan(10, 30.0)
    # span 2, P = 9, offset int(4.5) = 4
    assert [(v.crop_index, v.indices.tolist()) for v in plan.views] == [(1, [4, 5])]
    assert _as_lists(sampler(10, 30.0)) == [[4, 5]]


# ---------------------------------------------------------------- registry and validation


def test_registry_builds_samplers_with_typed_args() -> None:
    assert set(SAMPLERS.names()) >= {"interval", "segment", "dense", "multiview"}
    sampler = SAMPLERS.build("interval", clip_len=4, frame_interval=2, num_clips=3)
    assert _as_lists(sampler(10, 30.0)) == [[0, 2, 4, 6], [2, 4, 6, 8], [3, 5, 7, 9]]
    assert _as_lists(SAMPLERS.build("segment", num_segments=4)(10, 30.0)) == [[1, 3, 6, 8]]
    assert len(SAMPLERS.build("dense", clip_len=4, stride=4)(10, 30.0)) == 3
    with pytest.raises(ConfigError, match="clip_lenn"):
        SAMPLERS.build("interval", clip_lenn=4)


@pytest.mark.parametrize(
    "kwargs",
    [{"clip_len": 0}, {"frame_interval": 0}, {"num_clips": -1}, {"target_fps": 0.0}, {"clip_len": 2.5}],
)
def test_invalid_sampler_arguments(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        SAMPLERS.build("interval", **kwargs)


def test_invalid_video_arguments() -> None:
    with pytest.raises(InputError, match="num_frames"):
        IntervalSampler()(0, 30.0)
    with pytest.raises(InputError, match="fps"):
        IntervalSampler(target_fps=30.0)(100, 0.0)
    with pytest.raises(ConfigError, match="spatial_crops"):
        MultiViewSampler(spatial_crops=2)
