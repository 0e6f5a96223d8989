"""Shared fixtures of the action-detection tests: a small `synth --task detect` set (helpers: ``detkit``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.data.synth.detect import write_detect


@pytest.fixture(scope="session")
def detect_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 videos (8 train, 2 val: videos 4 and 9), 64 px, 3 s at 25 fps: keyframes at 1 and 2 s."""
    out = tmp_path_factory.mktemp("synth_detect")
    write_detect(out, num_videos=10, seed=3, size=64, fps=25.0, duration=3.0)
    return out
