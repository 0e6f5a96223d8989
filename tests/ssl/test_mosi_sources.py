"""MoSI image sources: files (folder / list), video frames, procedural textures, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vidstruct.data.records import ClipRecord
from vidstruct.errors import VidstructError
from vidstruct.io.writer import write_video
from vidstruct.ssl.mosi import (
    ImageFileSource,
    ImageSource,
    MoSIError,
    ProceduralSource,
    VideoFrameSource,
    load_image,
    procedural_image,
)


def save(path, array) -> None:
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def test_folder_source_finds_images_sorted_and_loads_exact_pixels(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (20, 30, 3))
    save(tmp_path / "b.png", a)
    (tmp_path / "sub").mkdir()
    save(tmp_path / "sub" / "c.PNG", a[:, :10])
    save(tmp_path / "a.jpg", np.full((8, 8, 3), 200))
    (tmp_path / "notes.txt").write_text("not an image")
    src = ImageFileSource.from_folder(tmp_path)
    assert isinstance(src, ImageSource)
    assert [p.name for p in src.paths] == ["a.jpg", "b.png", "c.PNG"]
    img = src.load(1)
    assert img.dtype == torch.uint8 and img.shape == (20, 30, 3)
    assert torch.equal(img, torch.from_numpy(a.astype(np.uint8)))  # png is lossless
    assert abs(int(src.load(0).float().mean()) - 200) <= 2
    assert len(ImageFileSource.from_folder(tmp_path, recursive=False)) == 2


def test_grey_and_rgba_images_become_rgb(tmp_path):
    Image.fromarray(np.full((10, 12), 77, np.uint8), mode="L").save(tmp_path / "g.png")
    Image.fromarray(np.full((10, 12, 4), 9, np.uint8), mode="RGBA").save(tmp_path / "r.png")
    assert load_image(tmp_path / "g.png").shape == (10, 12, 3) and int(load_image(tmp_path / "g.png")[0, 0, 2]) == 77
    assert load_image(tmp_path / "r.png").shape == (10, 12, 3)


def test_empty_or_missing_folder_names_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(MoSIError, match="empty.*no images"):
        ImageFileSource.from_folder(tmp_path / "empty")
    with pytest.raises(MoSIError, match="nowhere.*not found"):
        ImageFileSource.from_folder(tmp_path / "nowhere")
    with pytest.raises(MoSIError, match="no images"):
        ImageFileSource([])


def test_corrupt_and_truncated_images_name_the_path(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(MoSIError, match=r"junk\.jpg.*cannot decode"):
        load_image(tmp_path / "junk.jpg")
    save(tmp_path / "whole.png", np.random.default_rng(1).integers(0, 256, (64, 64, 3)))
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(MoSIError, match=r"cut\.png"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(MoSIError, match=r"gone\.png.*not found"):
        load_image(tmp_path / "gone.png")
    assert issubclass(MoSIError, VidstructError)


def test_list_file_resolves_relative_paths_and_skips_comments(tmp_path):
    (tmp_path / "imgs").mkdir()
    save(tmp_path / "imgs" / "x.png", np.zeros((9, 9, 3)))
    save(tmp_path / "abs.png", np.ones((5, 5, 3)))
    listing = tmp_path / "list.txt"
    listing.write_text(f"# images\nimgs/x.png\n\n{tmp_path / 'abs.png'}\nimgs/missing.png\n")
    src = ImageFileSource.from_list_file(listing)
    assert len(src) == 3 and src.describe(0) == str(tmp_path / "imgs" / "x.png")
    assert src.load(1).shape == (5, 5, 3)
    with pytest.raises(MoSIError, match=r"missing\.png"):
        src.load(2)
    with pytest.raises(MoSIError, match=r"nolist\.txt"):
        ImageFileSource.from_list_file(tmp_path / "nolist.txt")


def test_procedural_images_are_deterministic_and_textured():
    a, b = procedural_image(1, 0, 64, 80), procedural_image(1, 0, 64, 80)
    assert a.dtype == torch.uint8 and a.shape == (64, 80, 3)
    assert torch.equal(a, b)
    assert not torch.equal(a, procedural_image(1, 1, 64, 80))
    assert not torch.equal(a, procedural_image(2, 0, 64, 80))
    f = a.float()
    grad = (f[1:, :-1] - f[:-1, :-1]).abs() + (f[:-1, 1:] - f[:-1, :-1]).abs()
    assert int(f.max()) - int(f.min()) > 150  # full contrast
    # texture everywhere: every 8x8 block has detail a moving window can be tracked on
    blocks = grad.mean(-1)[:56, :72].reshape(7, 8, 9, 8).mean(dim=(1, 3))
    assert blocks.min() > 2.0
    src = ProceduralSource(3, height=64, width=80, seed=1)
    assert len(src) == 3 and torch.equal(src.load(0), a) and src.describe(2) == "procedural:1:2"


def grey_video(path, n: int = 10, fps: float = 10.0) -> None:
    """Frame i is uniformly grey with level 20·i (decoded within a few levels)."""
    frames = np.stack([np.full((48, 64, 3), 20 * i, np.uint8) for i in range(n)])
    write_video(path, frames, fps)


def test_video_frames_middle_in_evaluation_and_inside_the_segment_in_training(tmp_path):
    path = tmp_path / "v.mp4"
    grey_video(path)  # 10 frames at 10 fps: 1 s
    src = VideoFrameSource([str(path)])
    mid = src.load(0, train=False)
    assert mid.shape == (48, 64, 3) and mid.dtype == torch.uint8
    assert abs(mid.float().mean().item() - 100) < 6  # t = 0.5 s → frame 5
    seg = VideoFrameSource([ClipRecord(path=str(path), start_s=0.2, end_s=0.45)])
    levels = {
        round(seg.load(0, generator=torch.Generator().manual_seed(s)).float().mean().item() / 20) for s in range(8)
    }
    assert levels <= {2, 3, 4} and len(levels) >= 2  # frames 2..4 only, and actually random
    assert VideoFrameSource([path], short_side=24).load(0, train=False).shape == (24, 32, 3)


def test_unreadable_video_and_empty_list_name_the_problem(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VidstructError, match=r"bad\.mp4"):
        VideoFrameSource([bad]).load(0)
    with pytest.raises(MoSIError, match="no videos"):
        VideoFrameSource([])
