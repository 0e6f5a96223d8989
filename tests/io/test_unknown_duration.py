"""Videos whose container states no duration (live-streamed WebM, as a browser's MediaRecorder writes it).

The header holds no duration, no frame count and no cue index; probe, the
reader, streaming windows and the clip samplers must measure the video
(packet scan) instead of trusting a 0 from the header.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import av
import pytest
from videokit import read_ids, write_streamed_webm

from vidstruct.cli.main import main
from vidstruct.data.samplers import SegmentSampler
from vidstruct.io import VideoReader, iter_windows, probe

#: a 30 fps recording that dropped frames 3, 10, 17, 24, 31, 38 and 45 (43 frames, the last at 49/30 s)
RECORDED_TIMES = [k / 30 for k in range(50) if k % 7 != 3]
#: the same times on the file's millisecond clock
STORED_TIMES = [round(t * 1000) / 1000 for t in RECORDED_TIMES]


@pytest.fixture(scope="module", params=["libvpx", "libvpx-vp9"])
def recording(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_streamed_webm(tmp_path_factory.mktemp("webm") / f"{request.param}.webm", RECORDED_TIMES, request.param)
    with av.open(str(path)) as container:  # the premise: nothing in the header says how long the video is
        stream = container.streams.video[0]
        assert container.duration is None and stream.duration is None and not stream.frames
    return path


@pytest.mark.parametrize("exact", [False, True])
def test_probe_measures_frame_count_and_duration(recording: Path, exact: bool) -> None:
    info = probe(recording, exact=exact)
    assert info.num_frames == 43 and info.num_frames_exact
    assert info.duration_s == pytest.approx(50 / 30, abs=1 / 30)  # last frame at 49/30 s, displayed ~one frame
    assert info.fps_average == pytest.approx(43 / info.duration_s)
    assert info.start_s == 0.0 and (info.width, info.height) == (64, 64)


def test_cli_probe_prints_measured_values(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", str(recording), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_frames"] == 43 and data["num_frames_exact"] is True
    assert data["duration_s"] == pytest.approx(50 / 30, abs=1 / 30)
    assert main(["probe", str(recording)]) == 0
    assert "~" not in capsys.readouterr().out  # nothing is an estimate


def test_reader_finds_every_frame_at_its_time(recording: Path) -> None:
    reader = VideoReader(recording)
    assert reader.num_frames == 43
    assert reader.times_s.tolist() == pytest.approx(STORED_TIMES, abs=1e-9)
    assert read_ids(reader.get_frames(range(43))) == list(range(43))
    assert read_ids(reader.get_frames([42, 0, 21])) == [42, 0, 21]
    # 0.1 s and 0.11 s: recorder frame 3 was dropped, so frame 2 (at 2/30 s) is still on screen
    assert read_ids(reader.get_frames_at([0.1, 0.11, 0.14, 1.64])) == [2, 2, 3, 42]


def test_windows_cover_the_measured_duration(recording: Path) -> None:
    windows = list(iter_windows(recording, window_s=0.5, stride_s=0.5, fps=10))
    assert [w.start_s for w in windows] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert [w.num_valid for w in windows] == [5, 5, 5, 2]  # samples at 1.5 and 1.6 s fall before the end
    for w in windows:
        expected = [bisect.bisect_right(STORED_TIMES, t + 1e-9) - 1 for t in w.timestamps_s[: w.num_valid]]
        assert read_ids(w.frames[: w.num_valid]) == expected


def test_segment_sampler_spans_the_whole_recording(recording: Path) -> None:
    reader = VideoReader(recording)
    (indices,) = SegmentSampler(num_segments=4)(reader.num_frames, reader.fps, None)
    assert indices.tolist() == [5, 16, 26, 37]  # int(43 / 4 * (k + 0.5))
    assert read_ids(reader.get_frames(indices)) == [5, 16, 26, 37]
