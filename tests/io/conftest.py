"""Session fixtures of the io tests: small id videos (64 x 64 px unless said otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest
from videokit import VFR_TIMES, id_video


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Id videos: ``gop10`` (60 frames, 25 fps, keyframe every 10), ``gop_default`` (60 frames,
    x264's default GOP), ``fps24`` / ``fps25`` / ``fps30`` (2 s each) and ``vfr`` (variable frame rate)."""
    root = tmp_path_factory.mktemp("io_videos")
    return {
        "gop10": id_video(root / "gop10.mp4", 60, 25, gop=10),
        "gop_default": id_video(root / "gop_default.mp4", 60, 25),
        "fps24": id_video(root / "fps24.mp4", 48, 24, gop=12),
        "fps25": id_video(root / "fps25.mp4", 50, 25, gop=12),
        "fps30": id_video(root / "fps30.mp4", 60, 30, gop=12),
        "vfr": id_video(root / "vfr.mp4", len(VFR_TIMES), 10, timestamps_s=VFR_TIMES),
    }
