"""The optional torchcodec backend: same frames as the PyAV reader when installed, a clear error when not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from videokit import read_ids, write_rotated

from vidstruct.io import DecoderBackendError, VideoReader, open_reader, torchcodec_available
from vidstruct.io import torchcodec_backend as tcb


@pytest.mark.skipif(
    not torchcodec_available(),
    reason="torchcodec is not installed or cannot load FFmpeg (make test installs both; see .ci/ffmpeg-libs)",
)
def test_torchcodec_backend_agrees_with_pyav(videos: dict[str, Path], tmp_path: Path) -> None:
    path = videos["gop10"]
    tc = open_reader(path, backend="torchcodec")
    pyav = open_reader(path)
    indices = [44, 3, 3, 59, 20]
    assert read_ids(tc.get_frames(indices)) == indices
    assert torch.equal(tc.get_frames(indices), pyav.get_frames(indices))  # same swscale conversion
    times = [0.0, 0.5, 1.23, 2.39]
    assert read_ids(tc.get_frames_at(times)) == pyav.index_at(times).tolist()
    assert tc.num_frames == pyav.num_frames and tc.duration_s == pytest.approx(pyav.duration_s)
    rotated = write_rotated(tmp_path / "rot.mp4", 90)
    assert torch.equal(open_reader(rotated, backend="torchcodec").get_frames([0]), VideoReader(rotated).get_frames([0]))
    assert open_reader(path, backend="torchcodec", short_side=32).get_frames([1]).shape == (1, 32, 32, 3)


def test_missing_torchcodec_is_a_typed_error(videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    tcb.torchcodec_available.cache_clear()
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # makes `import torchcodec` fail
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    try:
        assert not tcb.torchcodec_available()
        with pytest.raises(DecoderBackendError, match="not installed"):
            open_reader(videos["gop10"], backend="torchcodec")
    finally:
        tcb.torchcodec_available.cache_clear()


def test_unknown_backend(videos: dict[str, Path]) -> None:
    with pytest.raises(DecoderBackendError, match="unknown decoder backend 'opencv'"):
        open_reader(videos["gop10"], backend="opencv")  # type: ignore[arg-type]
