"""``vidstruct demo`` (the path ``make demo`` takes): every step at test size through the CLI, its outputs checked
against each other and against independent computations, and the rule that it deletes only what it created."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from vidstruct.cli.main import main
from vidstruct.errors import ConfigError
from vidstruct.io import probe
from vidstruct.models.checkpoint import load_model_checkpoint
from vidstruct.recipes.demo import QUICK, SUBDIRS
from vidstruct.recipes.demo_folder import MARKER, claim_output, demo_subdir


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
