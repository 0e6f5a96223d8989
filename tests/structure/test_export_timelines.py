"""OpenTimelineIO and Label Studio exports: read back with opentimelineio, and checked against Label Studio's
documented tasks format (a strict schema written here from its docs: label-studio-sdk is too heavy to install)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import opentimelineio as otio
import pytest

from vidstruct.structure import StructureError, read_structure
from vidstruct.structure.exports import export_structure
from vidstruct.structure.exports.labelstudio import frame_range

SaveDoc = Callable[[dict[str, Any]], Path]


def _rt(value: float, rate: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(value, rate)


# --------------------------------------------------------------------------------------------- OpenTimelineIO


def test_otio_timeline_reads_back_with_a_clip_and_markers(structure_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "clip01.otio"
    assert export_structure(read_structure(structure_dir), "otio", out) == [out]
    timeline = otio.adapters.read_from_file(str(out))
    assert timeline.name == "clip01"
    assert len(timeline.tracks) == 1 and timeline.tracks[0].kind == otio.schema.TrackKind.Video
    clip = timeline.tracks[0][0]
    assert clip.name == "clip01"
    assert clip.media_reference.target_url == "videos/clip01.mp4"
    assert clip.media_reference.available_range == otio.opentime.TimeRange(_rt(0, 25), _rt(250, 25))
    assert timeline.duration() == _rt(250, 25)

    markers = [(m.name, m.color, m.marked_range.start_time, m.marked_range.duration) for m in clip.markers]
    assert markers == [
        ("Shot 1", "RED", _rt(0, 25), _rt(100, 25)),
        ("Shot 2", "RED", _rt(100, 25), _rt(62.5, 25)),
        ("Shot 3", "RED", _rt(162.5, 25), _rt(87.5, 25)),
        ("walk", "GREEN", _rt(37.5, 25), _rt(43.75, 25)),
        ("run", "GREEN", _rt(100, 25), _rt(50, 25)),
        ("jump", "GREEN", _rt(162.5, 25), _rt(75, 25)),
        ("walk", "GREEN", _rt(87.5, 25), _rt(37.5, 25)),
    ]
    assert dict(clip.markers[1].metadata["vidstruct"]) == {
        "kind": "shot",
        "index": 1,
        "confidence": 0.875,
        "model": "shots",
    }
    assert dict(clip.markers[6].metadata["vidstruct"]) == {
        "kind": "segment", "index": 3, "score": 0.5, "model": "localizer", "source": "localizer", "shot": None,
    }  # fmt: skip


def test_otio_absolute_path_and_unknown_fps(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["video"]["path"] = "/data/videos/clip 01.mp4"
    doc["video"]["fps"] = None
    out = tmp_path / "t.otio"
    export_structure(read_structure(save_doc(doc)), "otio", out)
    clip = otio.adapters.read_from_file(str(out)).tracks[0][0]
    assert clip.media_reference.target_url == "file:///data/videos/clip%2001.mp4"
    assert clip.markers[3].marked_range.start_time == _rt(1500, 1000)  # milliseconds when fps is unknown


def test_otio_without_a_duration_uses_the_last_end(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["video"]["duration_s"] = None
    out = tmp_path / "t.otio"
    export_structure(read_structure(save_doc(doc)), "otio", out)
    assert otio.adapters.read_from_file(str(out)).duration() == _rt(250, 25)  # shot 2 ends at 10 s
    for key in ("shots", "segments", "windows", "thumbnails"):
        doc[key] = []
    doc["embeddings"] = None
    with pytest.raises(StructureError, match=r"\$\.video\.duration_s: the timeline needs the video's duration"):
        export_structure(read_structure(save_doc(doc)), "otio", out)


# ----------------------------------------------------------------------------------------------- Label Studio

# Label Studio's JSON tasks format with predictions ("Import pre-annotated data", "Label Studio JSON format") and
# the TimelineLabels result ("value": {"ranges": [{"start", "end"}], "timelinelabels": [...]}, frames from 1).
LABEL_STUDIO_TASKS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["data", "predictions"],
        "properties": {
            "data": {"type": "object", "required": ["video"], "properties": {"video": {"type": "string"}}},
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["model_version", "result"],
                    "additionalProperties": False,
                    "properties": {
                        "model_version": {"type": "string"},
                        "score": {"type": "number"},
                        "result": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "from_name", "to_name", "type", "value"],
                                "additionalProperties": False,
                                "properties": {
                                    "id": {"type": "string"},
                                    "from_name": {"type": "string"},
                                    "to_name": {"type": "string"},
                                    "type": {"const": "timelinelabels"},
                                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                                    "value": {
                                        "type": "object",
                                        "required": ["ranges", "timelinelabels"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "ranges": {
                                                "type": "array",
                                                "minItems": 1,
                                                "items": {
                                                    "type": "object",
                                                    "required": ["start", "end"],
                                                    "additionalProperties": False,
                                                    "properties": {
                                                        "start": {"type": "integer", "minimum": 1},
                                                        "end": {"type": "integer", "minimum": 1},
                                                    },
                                                },
                                            },
                                            "timelinelabels": {
                                                "type": "array",
                                                "minItems": 1,
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize(
    ("start_s", "end_s", "fps", "frames"),
    [
        (1.5, 3.25, 25.0, (38, 81)),
        (0.0, 10.0, 25.0, (1, 250)),
        (4.0, 6.0, 25.0, (101, 150)),
        (1.0, 1.001, 25.0, (26, 26)),
    ],
)
def test_frame_ranges_count_frames_whose_middle_is_inside(
    start_s: float, end_s: float, fps: float, frames: tuple[int, int]
) -> None:
    assert frame_range(start_s, end_s, fps) == frames


def test_label_studio_tasks_follow_the_documented_format(structure_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ls" / "clip01.json"
    written = export_structure(read_structure(structure_dir), "labelstudio", out)
    assert written == [out, tmp_path / "ls" / "clip01.labeling.xml"]
    tasks = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(tasks, LABEL_STUDIO_TASKS)
    assert len(tasks) == 1 and tasks[0]["data"] == {"video": "videos/clip01.mp4", "video_id": "clip01"}
    by_version = {p["model_version"]: p for p in tasks[0]["predictions"]}
    assert list(by_version) == ["bmn (localizer)", "x3d_xs (recognizer)"]
    loc = by_version["bmn (localizer)"]
    assert loc["score"] == pytest.approx((0.9 + 0.75 + 0.5) / 3, abs=1e-6)
    assert [(r["id"], r["value"]["timelinelabels"], r["value"]["ranges"], r["score"]) for r in loc["result"]] == [
        ("segment-0", ["walk"], [{"start": 38, "end": 81}], 0.9),
        ("segment-1", ["run"], [{"start": 101, "end": 150}], 0.75),
        ("segment-3", ["walk"], [{"start": 88, "end": 125}], 0.5),
    ]
    rec = by_version["x3d_xs (recognizer)"]["result"]
    assert [(r["value"]["timelinelabels"], r["value"]["ranges"]) for r in rec] == [
        (["jump"], [{"start": 163, "end": 237}])
    ]

    # the labeling config names the controls the results use and every label they carry
    config = ET.fromstring(written[1].read_text(encoding="utf-8"))
    video = config.find("Video")
    control = config.find("TimelineLabels")
    assert video is not None and control is not None
    assert video.get("value") == "$video" and video.get("frameRate") == "25.0"
    results = [r for p in tasks[0]["predictions"] for r in p["result"]]
    assert {r["from_name"] for r in results} == {control.get("name")}
    assert {r["to_name"] for r in results} == {control.get("toName")} == {video.get("name")}
    assert [label.get("value") for label in control.findall("Label")] == ["walk", "run", "jump"]


def test_label_studio_needs_the_fps(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["video"]["fps"] = None
    with pytest.raises(StructureError, match=r"\$\.video\.fps: Label Studio timelines count frames"):
        export_structure(read_structure(save_doc(doc)), "labelstudio", tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_label_studio_config_escapes_labels(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["models"]["localizer"]["classes"] = None
    doc["segments"][1]["label"] = 'run "fast" <&>'
    config = export_structure(read_structure(save_doc(doc)), "labelstudio", tmp_path / "t.json")[1]
    labels = [e.get("value") for e in ET.fromstring(config.read_text(encoding="utf-8")).iter("Label")]
    assert labels == ["walk", 'run "fast" <&>', "run", "jump"]  # the localizer's labels, then the recognizer's classes
