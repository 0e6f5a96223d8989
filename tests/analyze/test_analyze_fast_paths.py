"""The decode pass's cheap paths give what the plain ones give: the windows' eval transform kernels against
``build_eval_transform``, ``VideoReader.to_rgb_into`` against ``to_rgb``, and shot frames converted straight into
the shot tap's chunk against frames fed one by one."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from analyzekit import Kit

from vidstruct.data.transforms import build_eval_transform
from vidstruct.io import VideoReader
from vidstruct.models.spec import InputSpec
from vidstruct.pipeline.analyze.shot_tap import ShotTap
from vidstruct.pipeline.analyze.taps import decode_once
from vidstruct.pipeline.analyze.windows import EvalFrames
from vidstruct.pipeline.shots import ContentShotDetector


@pytest.mark.parametrize("height, width", [(50, 70), (90, 64), (54, 54)])
def test_eval_frames_equal_the_eval_transform(height: int, width: int) -> None:
    spec = InputSpec(num_frames=4, frame_interval=2, crop_size=48, short_side=54, mean=(0.4, 0.5, 0.6),
                     std=(0.2, 0.25, 0.3))  # fmt: skip
    frames = torch.from_numpy(np.random.default_rng(height).integers(0, 256, (5, height, width, 3), dtype=np.uint8))
    transform = build_eval_transform(short_side=54, crop_size=48, mean=spec.mean, std=spec.std, num_crops=1)
    expected = transform(frames)  # float32 [C, T, 48, 48]
    got = EvalFrames(spec)(frames)  # float32 [T, C, 48, 48]
    assert got.shape == (5, 3, 48, 48) and got.dtype == torch.float32
    assert torch.equal(got.permute(1, 0, 2, 3), expected)


def test_to_rgb_into_equals_to_rgb(kit: Kit) -> None:
    reader = VideoReader(kit.video)
    try:
        for index, decoded in reader.iter_decoded([0, 7, 31]):
            for size in ((48, 27), (64, 64), (33, 20)):
                out = np.full((size[1], size[0], 3), 7, dtype=np.uint8)
                reader.to_rgb_into(decoded, size, out)
                assert np.array_equal(out, reader.to_rgb(decoded, size).numpy()), (index, size)
    finally:
        reader.close()


@pytest.mark.parametrize("degrees", [90, -90])
def test_to_rgb_into_rotates_like_to_rgb(tmp_path: Path, degrees: int) -> None:
    path = tmp_path / f"rot{degrees}.mp4"  # stored 64 x 32 (w x h), displayed 32 x 64
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:16, :32] = (255, 0, 0)  # a red top-left quadrant, stored
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(degrees)
        for i in range(3):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            container.mux(stream.encode(vf))
        container.mux(stream.encode())
    reader = VideoReader(path)
    try:
        for _, decoded in reader.iter_decoded([0, 2]):
            out = np.zeros((20, 10, 3), dtype=np.uint8)  # (width, height) = (10, 20) as displayed
            reader.to_rgb_into(decoded, (10, 20), out)
            expected = reader.to_rgb(decoded, (10, 20)).numpy()
            assert expected.shape == (20, 10, 3) and np.array_equal(out, expected)
            assert out.max() > 200  # the red quadrant is there
    finally:
        reader.close()


def test_shot_frames_converted_into_the_chunk_equal_frames_fed_one_by_one(kit: Kit) -> None:
    reader = VideoReader(kit.video)
    try:
        index = reader.index
        direct = ShotTap(ContentShotDetector(frame_size=(48, 27)), index, chunk_frames=16)
        decode_once(reader, [direct])  # the pass converts into direct.buffer(...)
        fed = ShotTap(ContentShotDetector(frame_size=(48, 27)), index, chunk_frames=7)
        for i, decoded in reader.iter_decoded(fed.indices()):
            fed.feed(i, reader.to_rgb(decoded, (48, 27)).clone())  # a tensor of its own: copied into the chunk
        fed.finish()
    finally:
        reader.close()
    assert direct.result is not None and fed.result is not None
    assert direct.result.scores.shape == (index.num_frames,)
    np.testing.assert_array_equal(direct.result.scores, fed.result.scores)
    assert [s.start_s for s in direct.result.shots] == [s.start_s for s in fed.result.shots] == [0.0, 3.0]
