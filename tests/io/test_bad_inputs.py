"""Bad-input matrix: every broken file gives a typed error naming the path and the reason.

Checked through :func:`probe`, :class:`VideoReader` and the CLI (one line on
stderr, non-zero exit, no traceback, in a subprocess).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from videokit import (
    id_video,
    max_rss_bytes,
    truncate,
    write_faststart,
    write_random_bytes,
    write_undecodable,
    write_y4m_header,
)

from mediakit import write_audio_only
from vidstruct.errors import VidstructError
from vidstruct.io import (
    CorruptVideoError,
    FrameOutOfRangeError,
    NoFramesError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoNotFoundError,
    VideoOpenError,
    VideoReader,
    VideoTooLargeError,
    probe,
)


def _good(tmp: Path) -> Path:
    return id_video(tmp / "good.mp4", 30, 25, gop=10)


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.mp4"
    path.write_bytes(b"")
    return path


def _no_streams(tmp: Path) -> Path:
    """An mp4 container written with a video stream but no frame: the muxer drops the empty track."""
    import av

    path = tmp / "nostreams.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    container.close()
    return path


# name -> (make file, expected error class, words the reason must contain)
CASES: dict[str, tuple[Callable[[Path], Path], type[VideoDecodeError], str]] = {
    "missing": (lambda t: t / "does_not_exist.mp4", VideoNotFoundError, "no such file"),
    "directory": (lambda t: t, VideoNotFoundError, "not a regular file"),
    "empty": (_empty, VideoOpenError, "empty"),
    "truncated_moov_at_end": (lambda t: truncate(t / "trunc.mp4", _good(t)), VideoOpenError, "moov atom not found"),
    "truncated_faststart": (
        lambda t: truncate(t / "trunc_fs.mp4", write_faststart(t / "fs.mp4")),
        CorruptVideoError,
        "truncated",
    ),
    "random_bytes": (lambda t: write_random_bytes(t / "random.mp4"), VideoOpenError, "cannot open"),
    "audio_only": (lambda t: write_audio_only(t / "audio.m4a"), NoVideoStreamError, "no video stream"),
    "no_streams": (_no_streams, NoVideoStreamError, "no video stream"),
    "zero_decodable_frames": (
        lambda t: write_undecodable(t / "noise.mp4", _good(t)),
        NoFramesError,
        "decod",
    ),
    "absurd_y4m_100000": (
        lambda t: write_y4m_header(t / "huge.y4m", 100000, 100000),
        VideoTooLargeError,
        "100000x100000",
    ),
    "absurd_y4m_16000": (  # a size FFmpeg itself accepts: rejected by our limit before any frame is read
        lambda t: write_y4m_header(t / "big.y4m", 16000, 16000),
        VideoTooLargeError,
        "16000x16000",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_probe_raises_typed_error_naming_path_and_reason(tmp_path: Path, case: str) -> None:
    make, error, words = CASES[case]
    path = make(tmp_path)
    with pytest.raises(error) as info:
        probe(path)
    assert isinstance(info.value, VidstructError)
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert words in info.value.reason


@pytest.mark.parametrize("case", sorted(CASES))
def test_reader_raises_typed_error(tmp_path: Path, case: str) -> None:
    make, error, words = CASES[case]
    path = make(tmp_path)
    with pytest.raises(error) as info:
        VideoReader(path).get_frames([0, 5])
    assert str(path) in str(info.value)
    if case not in ("zero_decodable_frames", "truncated_faststart"):  # those fail later, with their own wording
        assert words in info.value.reason


def test_truncated_faststart_reader_reason_names_the_missing_frames(tmp_path: Path) -> None:
    path = truncate(tmp_path / "trunc_fs.mp4", write_faststart(tmp_path / "fs.mp4", num_frames=30))
    with pytest.raises(CorruptVideoError, match="truncated: the header declares 30 frames"):
        VideoReader(path).get_frames([0])


def test_absurd_resolution_is_rejected_before_allocating(tmp_path: Path) -> None:
    """A 16000 x 16000 RGB frame would need 768 MB; the check happens on the header, so memory stays flat."""
    path = write_y4m_header(tmp_path / "big.y4m", 16000, 16000)
    before = max_rss_bytes()
    for _ in range(3):
        with pytest.raises(VideoTooLargeError):
            VideoReader(path).get_frames([0])
    assert max_rss_bytes() - before < 200 * 2**20
    # the limit is a parameter: a raised limit lets FFmpeg try, and the tiny file then fails as corrupt data
    with pytest.raises(VideoDecodeError):
        VideoReader(path, max_pixels=16000 * 16000).get_frames([0])


def test_request_past_the_end(tmp_path: Path) -> None:
    reader = VideoReader(_good(tmp_path))
    with pytest.raises(FrameOutOfRangeError, match="frame index 30 is out of range: the video has 30 frames"):
        reader.get_frames([3, 30])
    with pytest.raises(FrameOutOfRangeError, match="outside the video"):
        reader.get_frames_at([1.2])  # 30 frames at 25 fps end at 1.2 s
    with pytest.raises(FrameOutOfRangeError):
        reader.get_frames([-1])
    with pytest.raises(IndexError):  # also an IndexError, for generic callers
        reader.get_frames([99])
    assert reader.get_frames([29]).shape[0] == 1  # the reader still works after the errors


def test_errors_pickle_across_processes(tmp_path: Path) -> None:
    import pickle

    err = CorruptVideoError(tmp_path / "x.mp4", "truncated")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is CorruptVideoError and clone.path == err.path and clone.reason == "truncated"


CLI_CASES = [
    ("missing", "probe"),
    ("empty", "probe"),
    ("random_bytes", "probe"),
    ("absurd_y4m_100000", "probe"),
    ("audio_only", "frames"),
    ("truncated_moov_at_end", "frames"),
    ("zero_decodable_frames", "frames"),
]

_DRIVER = """
import json, sys
from vidstruct.cli.main import main
codes = []
for argv in json.loads(sys.argv[1]):
    sys.stderr.write("@@case@@\\n"); sys.stderr.flush()
    codes.append(main(argv))
    sys.stderr.flush()
print(json.dumps(codes))
"""


def test_cli_reports_one_line_without_traceback(tmp_path: Path) -> None:
    """Each bad file through the real CLI in a fresh interpreter: exit 2, one stderr line, no traceback.

    One subprocess runs all cases (interpreter start-up dominates); FFmpeg's own C-level logging would
    land on the same stderr between the markers, so 'one line per case' covers it too.
    """
    import json

    argvs, paths = [], []
    for i, (case, command) in enumerate(CLI_CASES):
        case_dir = tmp_path / f"case{i}"
        case_dir.mkdir()
        path = CASES[case][0](case_dir)
        argv = [command, str(path)]
        if command == "frames":
            argv += ["--indices", "0", "--out", str(case_dir / "out")]
        argvs.append(argv)
        paths.append(path)
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(argvs)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [2] * len(CLI_CASES)
    assert "Traceback" not in proc.stderr
    chunks = proc.stderr.split("@@case@@\n")[1:]
    assert len(chunks) == len(CLI_CASES)
    for (case, _), path, chunk in zip(CLI_CASES, paths, chunks):
        lines = chunk.strip().splitlines()
        assert len(lines) == 1, (case, chunk)
        assert lines[0].startswith("error: ") and str(path) in lines[0]
        if case != "zero_decodable_frames":
            assert CASES[case][2] in lines[0], (case, lines[0])


def test_cli_request_past_end_is_one_line(tmp_path: Path) -> None:
    path = _good(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", "frames", str(path), "--indices", "1,300", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}: frame index 300 is out of range: the video has 30 frames (valid 0..29)"
    ]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing half-written
