"""``vidstruct demo`` (the path ``make demo`` takes): every step at test size through the CLI, its outputs checked
against each other and against independent computations, and the rule that it deletes only what it created."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vidstruct.cli.main import main
from vidstruct.data.formats.ava import read_ava, read_ava_label_map
from vidstruct.errors import ConfigError
from vidstruct.io import probe
from vidstruct.io.reader import VideoReader
from vidstruct.models.checkpoint import load_model_checkpoint, sha256_file
from vidstruct.models.detection import load_detector
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.recipes.demo import QUICK, SUBDIRS
from vidstruct.recipes.demo_analyze import LOCALIZER_TOP_K, write_demo_profile
from vidstruct.recipes.demo_detection import MIN_PROB, PERSON_MIN_SCORE
from vidstruct.recipes.demo_folder import MARKER, claim_output, demo_subdir
from vidstruct.structure import read_structure


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A quick demo run into a folder an earlier demo run marked, holding a user's files and a stale demo folder."""
    out = tmp_path_factory.mktemp("demo") / "out"
    out.mkdir()
    (out / MARKER).write_text("an earlier demo run\n")
    (out / "notes.txt").write_text("mine\n")
    (out / "mine").mkdir()
    (out / "mine" / "keep.txt").write_text("mine too\n")
    (out / "run").mkdir()
    (out / "run" / MARKER).write_text("an earlier demo run\n")
    (out / "run" / "stale.txt").write_text("from the earlier run\n")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["demo", "--quick", "--out", str(out), "--json", "--quiet"])
    assert rc == 0
    return out, json.loads(stdout.getvalue())


@pytest.mark.slow
def test_demo_leaves_foreign_files_and_replaces_only_its_own(demo: tuple[Path, dict]) -> None:
    out, _ = demo
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "mine" / "keep.txt").read_text() == "mine too\n"
    assert not (out / "run" / "stale.txt").exists()  # the earlier demo's run folder was replaced
    assert all((out / name / MARKER).is_file() for name in SUBDIRS)
    assert not [p for p in out.rglob("*.tmp*")]  # no temporary file of an atomic write left behind


@pytest.mark.slow
def test_demo_summary_is_the_json_printed_and_matches_its_files(demo: tuple[Path, dict]) -> None:
    out, printed = demo
    summary = json.loads((out / "summary.json").read_text())
    assert printed == summary and summary["quick"] is True
    data = out / "data"
    assert summary["dataset"]["videos"] == QUICK.clips
    assert summary["dataset"]["splits"] == {s: len(_lines(data / f"{s}.txt")) for s in ("train", "val")}
    assert summary["dataset"]["classes"] == _lines(data / "classes.txt")
    assert summary["training"]["steps"] == QUICK.steps == int(_csv(out / "run" / "log.csv")[-1]["step"])
    report = json.loads((out / "test" / "metrics.json").read_text())
    assert summary["held_out"] == {**report["metrics"], "videos": report["evaluated"]}
    windows = json.loads((out / "predictions.json").read_text())["windows"]
    assert summary["untrimmed"]["windows"] == len(windows)
    loc = summary["localization"]
    assert loc["training"]["steps"] == QUICK.loc_steps == int(_csv(out / "localize_run" / "log.csv")[-1]["step"])
    logged = {r["metric"][len("val/") :]: float(r["value"]) for r in _csv(out / "localize_run" / "metrics.csv")}
    assert loc["held_out"] == pytest.approx(logged, rel=1e-8)  # metrics.csv keeps 9 significant digits
    assert set(loc["held_out"]) == {"AR@1", "AR@10", "AR@100", "AUC", "mAP@0.5", "average_mAP"}
    assert loc["segments"] == len(json.loads((out / "localization.json").read_text())["segments"])
    det = summary["detection"]
    assert (
        det["persons"]["steps"]
        == QUICK.detection.person_steps
        == int(_csv(out / "persons_run" / "log.csv")[-1]["step"])
    )
    assert (
        det["actions"]["steps"] == QUICK.detection.action_steps == int(_csv(out / "detect_run" / "log.csv")[-1]["step"])
    )
    assert det["videos"] == {s: len({r.split(",")[0] for r in _lines(out / "detect_data" / f"{s}.csv")})
                             for s in ("train", "val")}  # fmt: skip
    logged = {r["metric"][len("val/") :]: float(r["value"]) for r in _csv(out / "detect_run" / "metrics.csv")}
    assert det["actions"]["held_out"]["mAP"] == pytest.approx(logged["mAP"], rel=1e-8)
    assert 0 <= det["persons"]["held_out"]["person_ap50"] <= 1 and 0 <= det["actions"]["held_out"]["mAP"] <= 1
    assert {role: Path(p).is_file() for role, p in summary["files"].items()} == dict.fromkeys(summary["files"], True)


@pytest.mark.slow
def test_demo_checkpoint_loads_with_the_dataset_classes(demo: tuple[Path, dict]) -> None:
    out, _ = demo
    model, meta = load_model_checkpoint(out / "model.ckpt")
    classes = _lines(out / "data" / "classes.txt")
    assert meta["classes"] == classes and len(classes) == 10
    assert model.num_classes == 10
    assert (model.input_spec.num_frames, model.input_spec.crop_size) == (8, 48)  # the embedded demo config


@pytest.mark.slow
def test_demo_window_predictions_are_probabilities_over_the_video(demo: tuple[Path, dict]) -> None:
    out, summary = demo
    doc = json.loads((out / "predictions.json").read_text())
    duration = probe(doc["video"]).duration_s
    assert duration == pytest.approx(QUICK.untrimmed_s, abs=0.05)
    classes = summary["dataset"]["classes"]
    windows = doc["windows"]
    for k, w in enumerate(windows):
        assert w["start_s"] == pytest.approx(0.5 * k)  # the demo's stride
        assert 0 <= w["start_s"] < w["end_s"] <= duration + 1e-6
        probs = [p["prob"] for p in w["predictions"]]
        assert sorted(p["label"] for p in w["predictions"]) == sorted(classes)  # every class once
        assert sum(probs) == pytest.approx(1.0, abs=1e-5) and min(probs) >= 0
        assert probs == sorted(probs, reverse=True)
    assert windows[-1]["end_s"] == pytest.approx(duration, abs=1e-6)  # the windows cover the video to its end
    assert [tuple(t) for t in doc["ground_truth"]] == [tuple(t) for t in summary["untrimmed"]["ground_truth"]]


@pytest.mark.slow
def test_demo_test_files_agree_with_each_other_and_the_labels(demo: tuple[Path, dict]) -> None:
    out, _ = demo
    test = out / "test"
    report = json.loads((test / "metrics.json").read_text())
    probs = np.load(test / "probs.npy")
    confusion = np.load(test / "confusion.npy")
    per_class = _csv(test / "per_class.csv")
    labels = np.array([int(line.rsplit(" ", 1)[1]) for line in _lines(out / "data" / "val.txt")])
    # independent: accuracy of the stored probabilities against the annotation file
    assert probs.shape == (len(labels), 10) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert report["evaluated"] == report["num_videos"] == len(labels) == int(confusion.sum())
    assert report["metrics"]["top1"] == pytest.approx(float((probs.argmax(1) == labels).mean()))
    top5 = np.argsort(-probs, axis=1, kind="stable")[:, :5]
    assert report["metrics"]["top5"] == pytest.approx(float((top5 == labels[:, None]).any(1).mean()))
    assert report["metrics"]["top1"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert (
        [int(r["support"]) for r in per_class]
        == confusion.sum(1).tolist()
        == np.bincount(labels, minlength=10).tolist()
    )
    assert [int(r["correct"]) for r in per_class] == np.diag(confusion).tolist()
    assert [int(r["predicted"]) for r in per_class] == confusion.sum(0).tolist()
    assert [r["name"] for r in per_class] == report["classes"]
    assert (test / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_localization_segments_are_valid(demo: tuple[Path, dict]) -> None:
    out, summary = demo
    doc = json.loads((out / "localization.json").read_text())
    classes = set(_lines(out / "localize_data" / "classes.txt"))
    duration = probe(doc["video"]).duration_s
    assert doc["video"] == summary["localization"]["video"]
    assert doc["duration_s"] == pytest.approx(duration, abs=0.05)
    assert doc["segments"], "the localizer reported no segment"
    for s in doc["segments"]:
        assert s["label"] in classes
        assert 0 <= s["start_s"] < s["end_s"] <= doc["duration_s"] + 1e-6
        assert 0 <= s["score"] <= 1
    scores = [s["score"] for s in doc["segments"]]
    assert scores == sorted(scores, reverse=True)
    assert all(g["label"] in classes for g in doc["ground_truth"])


@pytest.mark.slow
def test_demo_profile_names_its_models_relative_to_itself(
    demo: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, summary = demo
    profile = out / "profile.yaml"
    assert summary["files"]["profile"] == str(profile)
    monkeypatch.chdir(tmp_path)  # resolved against the profile's folder, not the current one
    prof, composed = load_profile(profile)
    assert (prof.recognizer.checkpoint, prof.localizer.checkpoint) == ("model.ckpt", "localizer.pt")
    assert (prof.actors.detector, prof.actors.persons.detector) == ("detector.pt", "person_detector.pt")
    settings = analyze_settings(prof, composed)
    assert Path(settings.actors.detector).resolve() == (out / "detector.pt").resolve()
    assert Path(settings.actors.person_detector).resolve() == (out / "person_detector.pt").resolve()
    assert Path(settings.recognition.checkpoint).resolve() == (out / "model.ckpt").resolve()
    assert Path(settings.localization.checkpoint).resolve() == (out / "localizer.pt").resolve()
    assert Path(settings.localization.backbone).resolve() == (out / "model.ckpt").resolve()


@pytest.mark.slow
def test_demo_ends_with_analyze_on_the_held_out_untrimmed_video(demo: tuple[Path, dict]) -> None:
    out, summary = demo
    video = Path(summary["untrimmed"]["video"])
    folder = out / "analysis" / video.stem
    structure = read_structure(folder)  # validates against the schema and its rules
    doc = structure.document
    assert summary["files"]["structure"] == str(structure.path) and summary["files"]["report"] == str(
        folder / "report.html"
    )
    assert doc["video"]["path"] == str(video) and doc["video"]["sha256"] == sha256_file(video)
    assert doc["models"]["recognizer"]["checkpoint_sha256"] == sha256_file(out / "model.ckpt")
    assert doc["models"]["localizer"]["checkpoint_sha256"] == sha256_file(out / "localizer.pt")
    classes = _lines(out / "data" / "classes.txt")
    assert doc["models"]["recognizer"]["classes"] == classes
    # segments from the localizer, labelled with the trained classes, inside the video
    assert 0 < len(doc["segments"]) == summary["analysis"]["segments"] <= LOCALIZER_TOP_K
    assert {s["label"] for s in doc["segments"]} <= set(classes)
    assert all(s["source"] == "localizer" and 0 <= s["score"] <= 1 for s in doc["segments"])
    assert all(0 <= s["start_s"] < s["end_s"] <= doc["video"]["duration_s"] for s in doc["segments"])
    # windows every 0.5 s with every row of embeddings.npy, top-5 of the trained classes
    assert len(doc["windows"]) == summary["analysis"]["windows"] > 0
    assert [w["start_s"] for w in doc["windows"]] == pytest.approx([0.5 * k for k in range(len(doc["windows"]))])
    assert structure.embeddings is not None and structure.embeddings.shape[0] == len(doc["windows"])
    assert all(len(w["top"]) == 5 and {t["label"] for t in w["top"]} <= set(classes) for w in doc["windows"])
    assert doc["shots"] and doc["shots"][0]["start_s"] == 0 and doc["models"]["shots"]["name"] == "transnetv2"
    assert doc["profile"]["name"] == "demo"
    # actors from the detection step's models: its action detector and person detector, boxes normalized
    assert doc["models"]["actors"]["checkpoint_sha256"] == sha256_file(out / "detector.pt")
    assert len(doc["actors"]) == summary["analysis"]["actors"]
    detect_classes = summary["detection"]["classes"]
    for actor in doc["actors"]:
        x1, y1, x2, y2 = actor["box"]
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1 and 0 <= actor["time_s"] < doc["video"]["duration_s"]
        assert all(a["label"] in detect_classes and MIN_PROB <= a["prob"] <= 1 for a in actor["actions"])
    # the report: beside the document, the video referenced relative to it
    html = (folder / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lower().startswith("<!doctype html>")
    assert json.dumps(os.path.relpath(video, folder)) in html  # the player's source


@pytest.mark.slow
def test_demo_profile_analyzes_another_video_from_the_cli(
    demo: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = demo
    other = Path(summary["localization"]["video"])  # held out of the BMN's training, not the demo's analysis video
    assert other != Path(summary["untrimmed"]["video"])
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    rc = main(["analyze", str(other), "--profile", str(out / "profile.yaml"), "--out", "analysis", "--json", "--quiet"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["done"]) == [other.stem] and not printed["failed"]
    structure = read_structure(tmp_path / "analysis" / other.stem)
    doc = structure.document
    assert doc["video"]["sha256"] == sha256_file(other)
    assert doc["video"]["duration_s"] == pytest.approx(QUICK.loc_duration_s, abs=0.05)
    assert {s["label"] for s in doc["segments"]} <= set(_lines(out / "data" / "classes.txt"))
    assert doc["segments"] and (tmp_path / "analysis" / other.stem / "report.html").is_file()


@pytest.mark.slow
def test_demo_detection_step_labels_actors_of_a_held_out_video(demo: tuple[Path, dict]) -> None:
    out, summary = demo
    det = summary["detection"]
    video = Path(det["video"])
    data = out / "detect_data"
    held_out = {r.split(",")[0] for r in _lines(data / "val.csv")}
    assert video.stem in held_out and video.stem not in {r.split(",")[0] for r in _lines(data / "train.csv")}
    for role in ("person_detector", "action_detector", "actions_json", "actions_csv", "actions_truth", "actions_mp4"):
        assert Path(summary["files"][role]).is_file(), role
    bundle = load_detector(out / "detector.pt")
    labels = read_ava_label_map(str(data / "label_map.pbtxt"))
    assert bundle.classes == [labels[i].name for i in sorted(labels)] == det["classes"] and len(bundle.classes) == 14
    assert (bundle.builder["head"], bundle.builder["relation_geometry"]) == ("relation", "absolute")

    doc = json.loads((out / "actions.json").read_text())
    duration = probe(video).duration_s
    assert doc["schema"] == "vidstruct.actions/1" and doc["video"] == str(video) and doc["min_prob"] == MIN_PROB
    assert doc["model"]["checkpoint"] == str(out / "detector.pt") and doc["model"]["classes"] == bundle.classes
    assert doc["persons"] == str(out / "person_detector.pt")
    assert [kf["time_s"] for kf in doc["keyframes"]] == [float(t) for t in range(int(duration))]  # 0, 1, ... s
    actors = [(kf["time_s"], a) for kf in doc["keyframes"] for a in kf["actors"]]
    assert len(actors) == det["actor_boxes"] > 0, "the quick person detector found nobody"
    for _, a in actors:
        x1, y1, x2, y2 = a["box"]
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert PERSON_MIN_SCORE <= a["person_score"] <= 1
        probs = [x["prob"] for x in a["actions"]]
        assert all(MIN_PROB <= p <= 1 for p in probs) and probs == sorted(probs, reverse=True)
        assert {x["label"] for x in a["actions"]} <= set(bundle.classes)
    # the AVA CSV: every actor x every class, the same boxes and the JSON's probabilities unrounded
    rows = [r.split(",") for r in _lines(out / "actions.csv")]
    assert len(rows) == len(actors) * len(bundle.classes)
    assert all(r[0] == video.stem and 0 <= float(r[7]) <= 1 for r in rows)
    assert {int(r[6]) for r in rows} == set(bundle.class_ids)
    for k, (t, a) in enumerate(actors):
        mine = rows[k * len(bundle.classes) : (k + 1) * len(bundle.classes)]
        assert {float(r[1]) for r in mine} == {t}
        assert [float(v) for v in mine[0][2:6]] == pytest.approx(a["box"], abs=1e-4)
        kept = {bundle.classes[bundle.class_ids.index(int(r[6]))]: float(r[7]) for r in mine if float(r[7]) >= MIN_PROB}
        assert {x["label"]: x["prob"] for x in a["actions"]} == pytest.approx(kept, abs=1e-4)
    # the ground truth written beside it is that video's rows of val.csv
    truth = read_ava(str(out / "actions_truth.csv"), label_map=labels)
    assert truth and {r.video_id for r in truth} == {video.stem}
    assert len(truth) == sum(r.startswith(video.stem + ",") for r in _lines(data / "val.csv"))
    # the preview decodes: a real H.264 file covering the video
    preview = probe(out / "actions.mp4")
    assert preview.duration_s == pytest.approx(duration, abs=0.2)
    with VideoReader(out / "actions.mp4") as reader:
        frames = dict(reader.iter_frames([0, reader.num_frames - 1]))
    assert len(frames) == 2 and all(f.ndim == 3 and f.float().std() > 0 for f in frames.values())


def test_demo_without_detection_is_passed_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vidstruct.recipes.demo as demo_recipe

    seen: list[dict] = []
    monkeypatch.setattr(demo_recipe, "run_demo", lambda out, **kw: seen.append(kw) or {})
    assert main(["demo", "--quick", "--no-detection", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["demo", "--quick", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert [kw["detection"] for kw in seen] == [False, True]


# ------------------------------------------------------------------- refusals: nothing touched, one line, exit 2
def test_demo_refuses_an_out_with_foreign_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work\n")
    assert main(["demo", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 1 entries the demo did not write (thesis.tex)" in err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_demo_refuses_an_unmarked_folder_it_would_replace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / "localize_run").mkdir(parents=True)
    (out / MARKER).write_text("an earlier demo run\n")
    (out / "localize_run" / "important.txt").write_text("not the demo's\n")
    assert main(["demo", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "localize_run exists but was not written by the demo" in err
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "localize_run"]  # refused before any work
    assert (out / "localize_run" / "important.txt").read_text() == "not the demo's\n"


def test_demo_refuses_a_file_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.txt"
    path.write_text("a file\n")
    assert main(["demo", "--quick", "--out", str(path)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert path.read_text() == "a file\n"


def test_demo_profile_without_localization_names_only_the_recognizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    profile = write_demo_profile(out, localizer=None)
    assert profile == out / "profile.yaml"
    monkeypatch.chdir(tmp_path)
    prof, composed = load_profile(profile)  # validates (task: analyze)
    settings = analyze_settings(prof, composed)
    assert settings.localization.checkpoint is None and settings.localization.backbone is None
    assert settings.actors.detector is None  # no detection step: no actors
    assert Path(settings.recognition.checkpoint) == out / "model.ckpt"  # relative to the profile's folder
    rec = settings.recognition
    assert (rec.stride_s, rec.top_k, settings.shots.detector, settings.profile_name) == (0.5, 5, "transnetv2", "demo")


def test_folder_rule_without_running_the_demo(tmp_path: Path) -> None:
    out = claim_output(tmp_path / "new", ("run",))
    assert (out / MARKER).is_file()
    run = demo_subdir(out, "run")
    (run / "checkpoint.pt").write_text("x")
    again = demo_subdir(out, "run")  # marked by the demo: replaced
    assert sorted(p.name for p in again.iterdir()) == [MARKER]
    claim_output(out, ("run",))  # a marked folder is accepted again
    (out / "data").mkdir()
    with pytest.raises(ConfigError, match="data exists but was not written by the demo"):
        claim_output(out, ("data",))
