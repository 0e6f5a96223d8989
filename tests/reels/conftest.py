"""Fixtures of the reel tests: an id video (frame ``i`` shows ``i``) and a structure document with segments on it.

The video: 40 frames at 10 fps (4 s), a keyframe every 10 frames (0, 1, 2, 3 s). Segments (``reelkit.SEGMENTS``):

- ``jump`` [1.0, 2.0) 0.9 and [3.0, 4.0) 0.8: cuts on keyframes (frames 10-19, 30-39);
- ``jump`` [2.3, 2.75) 0.5: cuts inside a group of pictures (frames 23-27);
- ``run`` [0.0, 1.5) 0.7 and [1.2, 2.0) 0.6: overlapping (frames 0-19 once merged).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))  # videokit: the id-frame videos

from reelkit import write_doc
from videokit import id_video


@pytest.fixture(scope="session")
def reel_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 4 s id video (40 frames, 10 fps, keyframe every 10 frames)."""
    return id_video(tmp_path_factory.mktemp("reelsrc") / "ids.mp4", 40, 10.0, gop=10)


@pytest.fixture
def reel_doc(tmp_path: Path, reel_video: Path) -> Path:
    """``structure.json`` of ``reelkit.SEGMENTS`` on the id video."""
    return write_doc(tmp_path / "analysis", reel_video)
