"""Video and PNG writers are atomic: unique temporary files, nothing half-written, the old file kept on error."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from videokit import id_frame, read_ids

from vidstruct.io import VideoReader, save_frames, write_video


def _ids(start: int, count: int, *, fail_after: int | None = None, hook: Any = None) -> Iterator[np.ndarray]:
    """Id frames ``start .. start + count - 1``; raise after ``fail_after`` frames; call ``hook()`` at 3/4.

    Failures and the hook come late enough (past x264's lookahead of ~40 frames) that the muxer has
    already created and written the output file.
    """
    for k in range(count):
        if fail_after is not None and k == fail_after:
            raise RuntimeError("camera unplugged")
        if hook is not None and k == count * 3 // 4:
            hook()
        yield id_frame(start + k)


def test_error_while_encoding_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, _ids(0, 5), 25)
    old = path.read_bytes()
    with pytest.raises(RuntimeError, match="camera unplugged"):
        write_video(path, _ids(100, 90, fail_after=70), 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temporary file left behind
    assert path.read_bytes() == old
    assert read_ids(VideoReader(path).get_frames(range(5))) == [0, 1, 2, 3, 4]


def test_error_on_a_new_path_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        write_video(tmp_path / "sub" / "new.webm", _ids(0, 90, fail_after=70), 25, codec="libvpx")
    assert list((tmp_path / "sub").iterdir()) == []


def test_two_writers_of_one_path_at_once_do_not_collide(tmp_path: Path) -> None:
    """Writer B writes the same path completely while writer A is half-way; both succeed, the last rename wins."""
    path = tmp_path / "clip.mp4"
    inner: list[Path] = []

    def second_writer() -> None:
        inner.append(write_video(path, _ids(500, 7), 25))
        assert read_ids(VideoReader(path).get_frames(range(7))) == list(range(500, 507))

    write_video(path, _ids(0, 80, hook=second_writer), 25)
    assert inner == [path]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    reader = VideoReader(path)
    assert reader.num_frames == 80
    assert read_ids(reader.get_frames(range(80))) == list(range(80))


def test_png_frames_error_mid_file_leaves_no_truncated_png(
    videos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second PNG fails half-way: the first is complete, the second name keeps its old content, no temp file."""
    out = tmp_path / "png"
    out.mkdir()
    (out / "0001_frame000017.png").write_bytes(b"old")
    original = Image.Image.save
    calls = []

    def failing_save(self: Image.Image, fp: Any, format: str | None = None, **params: Any) -> None:
        calls.append(fp)
        if len(calls) < 2:
            return original(self, fp, format=format, **params)
        buffer = io.BytesIO()
        original(self, buffer, format="PNG")
        half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
        if isinstance(fp, (str, Path)):
            Path(fp).write_bytes(half)
        else:
            fp.write(half)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_frames(videos["gop10"], out, indices=[40, 17, 3])
    monkeypatch.setattr(Image.Image, "save", original)
    assert sorted(p.name for p in out.iterdir()) == ["0000_frame000040.png", "0001_frame000017.png"]
    assert (out / "0001_frame000017.png").read_bytes() == b"old"
    assert read_ids(np.asarray(Image.open(out / "0000_frame000040.png"))[None]) == [40]
