"""WebVTT export: a chapters track (shots) and a metadata track (segments), read back with webvtt-py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import webvtt

from vidstruct.structure import read_structure
from vidstruct.structure.exports import companion, export_structure
from vidstruct.structure.exports.webvtt import timestamp

SaveDoc = Callable[[dict[str, Any]], Path]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "00:00:00.000"), (1.5, "00:00:01.500"), (59.9996, "00:01:00.000"), (3725.25, "01:02:05.250")],
)
def test_timestamps(seconds: float, text: str) -> None:
    assert timestamp(seconds) == text


def test_companion_names() -> None:
    assert companion(Path("out/clip.vtt"), "segments", "vtt") == Path("out/clip.segments.vtt")
    assert companion(Path("out/clip"), "label_map", "pbtxt") == Path("out/clip.label_map.pbtxt")


def test_chapters_and_segments_read_back(structure_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "vtt" / "clip01.vtt"
    written = export_structure(read_structure(structure_dir), "webvtt", out)
    assert written == [out, tmp_path / "vtt" / "clip01.segments.vtt"]

    chapters = webvtt.read(str(out)).captions
    assert [(c.identifier, c.start, c.end, c.text) for c in chapters] == [
        ("shot-0", "00:00:00.000", "00:00:04.000", "Shot 1"),
        ("shot-1", "00:00:04.000", "00:00:06.500", "Shot 2"),
        ("shot-2", "00:00:06.500", "00:00:10.000", "Shot 3"),
    ]

    cues = webvtt.read(str(written[1])).captions  # sorted by start time, identifiers keep the list position
    assert [(c.identifier, c.start, c.end) for c in cues] == [
        ("segment-0", "00:00:01.500", "00:00:03.250"),
        ("segment-3", "00:00:03.500", "00:00:05.000"),
        ("segment-1", "00:00:04.000", "00:00:06.000"),
        ("segment-2", "00:00:06.500", "00:00:09.500"),
    ]
    assert json.loads(cues[0].text) == {
        "label": "walk",
        "score": 0.9,
        "source": "localizer",
        "model": "localizer",
        "shot": 0,
    }
    assert json.loads(cues[1].text)["shot"] is None
    assert json.loads(cues[3].text) == {
        "label": "jump",
        "score": 0.625,
        "source": "windows",
        "model": "recognizer",
        "shot": 2,
    }


def test_labels_cannot_break_the_cue_format(tmp_path: Path, doc: dict[str, Any], save_doc: SaveDoc) -> None:
    doc["models"]["localizer"]["classes"] = None
    doc["segments"][1]["label"] = "a<b & c --> d\u00e9"
    out = tmp_path / "t.vtt"
    segments_file = export_structure(read_structure(save_doc(doc)), "webvtt", out)[1]
    raw = segments_file.read_text(encoding="utf-8")
    assert raw.count("-->") == 4 and "<" not in raw and "&" not in raw
    cue = next(c for c in webvtt.read(str(segments_file)).captions if c.identifier == "segment-1")
    assert json.loads(cue.text)["label"] == "a<b & c --> d\u00e9"


def test_no_shots_and_no_segments_give_empty_tracks(tmp_path: Path, doc: dict[str, Any], save_doc: SaveDoc) -> None:
    for key in ("shots", "segments", "thumbnails"):
        doc[key] = []
    out = tmp_path / "t.vtt"
    written = export_structure(read_structure(save_doc(doc)), "webvtt", out)
    assert out.read_text(encoding="utf-8") == "WEBVTT\n"
    assert [len(webvtt.read(str(p)).captions) for p in written] == [0, 0]
