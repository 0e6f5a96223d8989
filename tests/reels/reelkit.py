"""Helpers of the reel tests: a structure document on a video, and reading a reel back (the source frame each of
its frames shows, its duration, its packets, its chapters). Needs ``tests/io`` on ``sys.path`` (conftest.py)."""

from __future__ import annotations

from pathlib import Path

import av
import webvtt
from videokit import decode_reference, read_ids

from vidstruct.io import VideoReader
from vidstruct.structure import model_record, segment_record, structure_document, video_record, write_structure

#: (label, start_s, end_s, score) of the test document's segments on the 4 s id video (see conftest.py)
SEGMENTS = [
    ("jump", 1.0, 2.0, 0.9),
    ("jump", 3.0, 4.0, 0.8),
    ("jump", 2.3, 2.75, 0.5),
    ("run", 0.0, 1.5, 0.7),
    ("run", 1.2, 2.0, 0.6),
]


def write_doc(folder: Path, video: Path, segments: list[tuple[str, float, float, float]] = SEGMENTS) -> Path:
    """A valid structure document naming ``video`` with ``segments`` (label, start_s, end_s, score)."""
    doc = structure_document(
        video=video_record(
            id="ids", path=str(video), sha256="a" * 64, width=64, height=64, codec="h264", duration_s=4.0, fps=10.0
        ),
        models={"rec": model_record("rec", "recognition", classes=["jump", "run", "walk"])},
        segments=[segment_record(lab, s, e, p, source="windows", model="rec") for lab, s, e, p in segments],
    )
    return write_structure(folder, doc)


def reel_ids(path: Path) -> list[int]:
    """Source frame numbers shown by every frame of the reel, decoded sequentially by plain PyAV (pts order)."""
    return read_ids(decode_reference(path))


def reel_duration_s(path: Path) -> float:
    """Seconds from the reel's first frame to the end of its last (its frame index)."""
    with VideoReader(path) as reader:
        return reader.duration_s


def packets(path: Path) -> list[tuple[int, bytes]]:
    """``(pts, payload)`` of every video packet, decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def chapters(path: Path) -> list[tuple[str, float, float, str]]:
    """``(identifier, start_s, end_s, text)`` of each cue, read by webvtt-py."""
    return [(c.identifier, _seconds(c.start), _seconds(c.end), c.text) for c in webvtt.read(str(path))]


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
