"""The content detector: HSV histogram distances, the adaptive threshold, and shots on real montages."""

from __future__ import annotations

import numpy as np
import pytest
from shotkit import cut_frames, decoded, push_in_chunks

from vidstruct.io import VideoReader
from vidstruct.pipeline.shots import ContentShotDetector
from vidstruct.pipeline.shots.adaptive import RATIO_CAP, adaptive_cuts, adaptive_ratios
from vidstruct.pipeline.shots.histogram import histogram_distance, hsv_histograms

RED, GREEN, BLACK, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 0), (255, 255, 255)


def _solid(*colours: tuple[int, int, int]) -> np.ndarray:
    """One 4 x 4 frame per colour, uint8 [T, 4, 4, 3]."""
    return np.stack([np.full((4, 4, 3), c, dtype=np.uint8) for c in colours])


def test_histogram_distance_on_hand_checked_frames():
    hist = hsv_histograms(_solid(BLACK, WHITE, RED, GREEN, RED))
    assert hist.shape == (5, 64) and (hist.sum(axis=1) == 3 * 16).all()
    assert hist[2, 0] == 16 and hist[3, 85 >> 3] == 16  # hue of red: 0, of green: 85 (Pillow's 0-255 scale)
    # black / white: same hue and saturation, all value mass moves: (0 + 0 + 1) / 3
    # red / green: only the hue moves: (1 + 0 + 0) / 3; red / red: 0
    d = histogram_distance(hist[[0, 2, 2]], hist[[1, 3, 4]])
    np.testing.assert_allclose(d, [1 / 3, 1 / 3, 0.0])
    half = np.concatenate([_solid(RED)[:, :2], _solid(GREEN)[:, 2:]], axis=1)  # half the pixels change hue
    np.testing.assert_allclose(histogram_distance(hsv_histograms(half), hist[2:3]), [0.5 / 3])


def test_adaptive_ratio_and_confidence_by_hand():
    scores = np.array([0.0, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1])
    ratio = adaptive_ratios(scores, window=2, min_score=0.15)
    assert ratio[0] == 0.0  # frame 0 has no score
    assert ratio[3] == pytest.approx(0.6 / 0.1)  # neighbours 1, 2, 4, 5
    assert ratio[1] == pytest.approx(0.1 / 0.35)  # neighbours 2, 3 only (frame 0 excluded)
    cuts, conf = adaptive_cuts(scores, np.arange(7) * 0.04, ratio_threshold=3, window=2, min_score=0.15, min_shot_s=0)
    assert cuts.tolist() == [3]
    assert conf[0] == pytest.approx(0.8)  # m = min(6 / 3, 0.6 / 0.15) = 2 -> 4 / 5
    still = np.array([0.0, 0.0, 0.0, 0.5, 0.0, 0.0])  # a change between frames that do not change otherwise
    assert adaptive_ratios(still, 2, 0.15)[3] == RATIO_CAP
    _, conf = adaptive_cuts(still, np.arange(6) * 0.04, ratio_threshold=3, window=2, min_score=0.15, min_shot_s=0)
    m = 0.5 / 0.15
    assert conf[0] == pytest.approx(m**2 / (1 + m**2))


def test_min_shot_length_keeps_the_strongest_cut():
    scores = np.full(40, 0.02)
    scores[[3, 10, 14, 30]] = [0.9, 0.5, 0.8, 0.4]
    times = np.arange(40) * 0.04
    cuts, conf = adaptive_cuts(scores, times, ratio_threshold=3, window=2, min_score=0.15, min_shot_s=0.3)
    # 3 is 0.12 s after the start; 10 is 0.16 s from the stronger 14; 30 is 0.64 s after 14
    assert cuts.tolist() == [14, 30]
    assert conf[0] > conf[1] >= 0.5
    cuts, _ = adaptive_cuts(scores, times, ratio_threshold=3, window=2, min_score=0.45, min_shot_s=0.0)
    assert cuts.tolist() == [3, 10, 14]  # min_score drops 30


@pytest.fixture(scope="module")
def content_frames(montage):
    return decoded(montage.path, ContentShotDetector().frame_size)


def test_finds_the_hard_cuts_and_nothing_outside_transitions(montage, content_frames):
    frames, times = content_frames
    result = push_in_chunks(ContentShotDetector(), frames, times, chunk=len(frames), end_s=montage.num_frames / 25)
    detected = result.cut_frames.tolist()
    for cut in cut_frames(montage):
        near = [c for c in detected if abs(c - cut) <= 2]
        assert near, f"hard cut at frame {cut} missed; detected {detected}"
        shot = result.shots[detected.index(near[0]) + 1]
        assert shot.start_s == pytest.approx(times[near[0]]) and shot.confidence > 0.5
    for c in detected:  # every detection lies in a transition (±2 frames)
        assert any(t.start - 2 <= c <= t.stop + 2 for t in montage.transitions), (c, montage.transitions)
    assert result.shots[0].start_s == 0.0 and result.shots[-1].end_s == pytest.approx(montage.num_frames / 25)
    assert all(a.end_s == b.start_s for a, b in zip(result.shots, result.shots[1:]))


def test_results_do_not_depend_on_chunk_sizes(content_frames):
    frames, times = content_frames
    detector = ContentShotDetector()
    results = [push_in_chunks(detector, frames, times, chunk) for chunk in (1, 7, 100, len(frames))]
    for other in results[1:]:
        np.testing.assert_array_equal(other.scores, results[0].scores)
        assert other.shots == results[0].shots
    assert len(results[0].shots) > 2


def test_a_still_video_is_one_shot(still_video):
    frames, times = decoded(still_video, (64, 36))
    result = push_in_chunks(ContentShotDetector(), frames, times, 16, end_s=VideoReader(still_video).duration_s)
    assert len(result.shots) == 1 and result.shots[0].confidence == 1.0
    assert result.shots[0].end_s == pytest.approx(50 / 25)
    assert float(result.scores.max()) < 0.05
