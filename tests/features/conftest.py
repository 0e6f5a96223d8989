"""Session fixtures of the feature-extraction tests: a tiny checkpoint and three short videos."""

from __future__ import annotations

from pathlib import Path

import pytest
from featkit import moving_video, tiny_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("feat_ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``a`` (3 s), ``b`` (2 s), ``c`` (2.5 s): 64 x 64 px, 10 fps."""
    root = tmp_path_factory.mktemp("feat_videos")
    return {
        "a": moving_video(root / "a.mp4", 3.0, seed=1),
        "b": moving_video(root / "b.mp4", 2.0, seed=2),
        "c": moving_video(root / "c.mp4", 2.5, seed=3),
    }
