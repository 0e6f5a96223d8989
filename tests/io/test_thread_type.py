"""Default FFmpeg threading follows the usable cores; an explicit choice wins; every choice decodes the same frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from videokit import id_video, read_ids

from vidstruct.io import VideoReader
from vidstruct.io import reader as reader_module


@pytest.mark.parametrize(("cores", "expected"), [(1, "SLICE"), (2, "SLICE"), (3, "SLICE"), (4, "AUTO"), (16, "AUTO")])
def test_frame_threading_only_from_four_cores(monkeypatch: pytest.MonkeyPatch, cores: int, expected: str) -> None:
    monkeypatch.setattr(reader_module.os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert reader_module.default_thread_type() == expected
    assert VideoReader("unused.mp4").thread_type == expected
    assert VideoReader("unused.mp4", thread_type="FRAME").thread_type == "FRAME"


def test_every_thread_type_decodes_the_same_frames(tmp_path: Path) -> None:
    path = id_video(tmp_path / "ids.mp4", 40, 25.0, gop=8)
    wanted = np.array([0, 7, 8, 21, 39])
    kinds = ("AUTO", "FRAME", "SLICE", "NONE")
    ids = {tt: read_ids(VideoReader(path, thread_type=tt).get_frames(wanted)) for tt in kinds}
    assert all(v == wanted.tolist() for v in ids.values()), ids


@pytest.mark.parametrize(
    ("threads", "size", "expected"),
    [
        (3, (1920, 1080), 3),  # the caller's number wins
        (0, (48, 27), 1),  # small output: one thread
        (0, (320, 180), 1),
        (0, (640, 360), 0),  # larger output: FFmpeg's choice
        (0, (1280, 720), 0),
    ],
)
def test_scaling_threads_follow_frame_size(threads: int, size: tuple[int, int], expected: int) -> None:
    from vidstruct.io.pixel_format import FrameConverter, scaling_threads

    assert scaling_threads(threads, *size) == expected
    assert FrameConverter(*size, threads=threads).threads == expected
