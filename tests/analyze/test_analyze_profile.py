"""Profiles and models: validation, relative paths, command-line options over the profile, the profile hash, and
one-line errors (exit 2, nothing analyzed) for a missing checkpoint or a checkpoint of the wrong kind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from analyzekit import Kit, save_backbone

from vidstruct.cli.main import main
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.structure import read_structure


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    ("option", "given", "phrase"),
    [
        ("--recognizer", "missing", "recognizer checkpoint not found"),
        ("--localizer", "missing", "localizer checkpoint not found"),
        ("--recognizer", "localizer", "a localizer checkpoint (vidstruct.localizer/1) given as the recognizer"),
        ("--localizer", "backbone", "a recognition model checkpoint (vidstruct.model/1) given as the localizer"),
        ("--recognizer", "localizer_run", "a localizer run (localizer.pt) given as the recognizer"),
    ],
)
def test_a_bad_checkpoint_is_one_line_before_any_video(
    kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, given: str, phrase: str
) -> None:
    run = tmp_path / "loc_run"
    run.mkdir()
    shutil.copyfile(kit.localizer, run / "localizer.pt")
    path = {
        "missing": tmp_path / "nothing.pt",
        "localizer": kit.localizer,
        "backbone": kit.backbone,
        "localizer_run": run,
    }[given]
    out = tmp_path / "out"
    assert main(["analyze", str(kit.one_shot), "--out", str(out), option, str(path), "--shots", "none", "-q"]) == 2
    err = _error(capsys)
    assert phrase in err and str(path) in err
    assert not out.exists()


def test_a_profile_naming_a_missing_checkpoint(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("task: analyze\nrecognizer: {checkpoint: models/gone.pt}\n")
    assert main(["analyze", str(kit.one_shot), "--out", str(tmp_path / "out"), "--profile", str(profile)]) == 2
    err = _error(capsys)
    assert "recognizer checkpoint not found" in err and str(tmp_path / "models" / "gone.pt") in err


def test_profile_errors_name_the_key(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("task: analyze\nsegments: {min_prb: 0.5}\n")
    assert main(["analyze", str(kit.one_shot), "--out", str(tmp_path / "o"), "--profile", str(profile)]) == 2
    assert "unknown key 'segments.min_prb'" in _error(capsys)
    profile.write_text("task: analyze\nshots: {detector: content, options: {treshold: 0.5}}\n")
    assert main(["analyze", str(kit.one_shot), "--out", str(tmp_path / "o"), "--profile", str(profile)]) == 2
    assert "shots.options.treshold" in _error(capsys)
    profile.write_text("task: analyze\nshots: {detector: transnetv2, options: {threshold: 2.0}}\n")
    assert main(["analyze", str(kit.one_shot), "--out", str(tmp_path / "o"), "--profile", str(profile)]) == 2
    assert "shots.options" in _error(capsys)
    assert main(["analyze", str(kit.one_shot), "--out", str(tmp_path / "o"), "--backbone", str(kit.backbone)]) == 2
    assert "localizer.backbone is set but localizer.checkpoint is not" in _error(capsys)
    # a profile is not an experiment
    assert main(["train", str(profile), "--out", str(tmp_path / "run")]) == 2
    assert "a task 'analyze' config" in _error(capsys)


def test_profile_paths_are_relative_to_the_profile_and_options_override_it(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(kit.backbone, models / "bb.pt")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profile = profiles / "mine.yaml"
    profile.write_text(
        "task: analyze\nshots: {detector: content}\nrecognizer: {checkpoint: ../models/bb.pt, window_s: 1.0}\n"
    )
    monkeypatch.chdir(kit.root)  # neither the profile's folder nor the models'
    out = tmp_path / "out"
    assert (
        main(["analyze", str(kit.one_shot), "--out", str(out), "--profile", str(profile), "--shots", "none", "-q"]) == 0
    )
    doc = read_structure(out / "one_shot").document
    assert doc["profile"]["name"] == "mine"
    assert doc["models"]["recognizer"]["checkpoint"] == str((models / "bb.pt").resolve())
    assert doc["shots"] == [] and len(doc["windows"]) == 4  # --shots none over the profile's content; 2 s / 0.5 s


def test_the_profile_hash_follows_what_changes_results(kit: Kit, tmp_path: Path) -> None:
    def sha(text: str, name: str = "p") -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        profile, composed = load_profile(path)
        return analyze_settings(profile, composed).profile_sha256  # type: ignore[return-value]

    model = tmp_path / "bb.pt"
    shutil.copyfile(kit.backbone, model)
    base = sha(f"recognizer: {{checkpoint: {model}}}\n")
    assert sha(f"name: other\nrecognizer: {{checkpoint: {model}}}\nruntime: {{device: cpu}}\nreport: false\n") == base
    assert sha(f"recognizer: {{checkpoint: {model}, top_k: 3}}\n") != base
    moved = tmp_path / "moved.pt"
    shutil.copyfile(model, moved)
    assert sha(f"recognizer: {{checkpoint: {moved}}}\n") == base  # the content counts, not the path
    save_backbone(model, seed=5)  # retrained in place
    assert sha(f"recognizer: {{checkpoint: {model}}}\n") != base
