"""``vidstruct train`` / ``vidstruct test`` on a synthetic dataset, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidstruct.cli.main import main


def _train(cfg: Path, run_dir: Path, capsys, *extra: str) -> dict:
    assert main(["train", str(cfg), *extra, "--run-dir", str(run_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_then_multiview_test(recipe_config, tmp_path, capsys, synth_classify):
    run_dir = tmp_path / "run"
    summary = _train(recipe_config, run_dir, capsys)
    assert summary["step"] == 2 and set(summary["metrics"]) == {"top1", "top5", "mean_class_accuracy"}
    classes = (synth_classify / "classes.txt").read_text().split()

    # model.pt is a vidstruct.model/1 checkpoint holding the EMA weights, classes and preprocessing
    from vidstruct.models.checkpoint import load_model_checkpoint

    model, meta = load_model_checkpoint(run_dir / "model.pt")
    assert meta["classes"] == classes and meta["model"] == "r2plus1d_tiny"
    assert model.input_spec.num_frames == 4 and model.input_spec.crop_size == 56
    ema = torch.load(run_dir / "final.pt", weights_only=True)["ema"]
    name = next(k for k in model.state_dict() if k.endswith("weight"))
    assert torch.equal(model.state_dict()[name], ema[f"module.{name}"])

    out = tmp_path / "test_out"
    assert main(["test", str(recipe_config), "--checkpoint", str(run_dir), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "val" and report["views"] == 6 and report["evaluated"] == report["num_videos"] == 4
    probs = np.load(out / "probs.npy")
    assert probs.shape == (4, 10) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert np.asarray(report["confusion"]).sum() == 4 and (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert [r["name"] for r in report["per_class"]] == classes
    # a step checkpoint of the same run gives the same kind of report (text mode)
    assert main(["test", str(recipe_config), "--checkpoint", str(run_dir / "checkpoints" / "step_00000002.pt")]) == 0
    text = capsys.readouterr().out
    assert "val: 4 of 4 videos, 6 view(s) each" in text and "class" in text


def test_resume_continues_and_extends(recipe_config, tmp_path, capsys):
    run_dir = tmp_path / "run"
    _train(recipe_config, run_dir, capsys)
    summary = _train(recipe_config, run_dir, capsys, "--max-steps", "3", "--resume")  # = train.max_steps=3
    assert summary["step"] == 3 and summary["resumed_from"].endswith("step_00000002.pt")
    steps = [line.split(",")[0] for line in (run_dir / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3"]


def test_one_line_errors(recipe_config, tmp_path, capsys, synth_classify):
    assert main(["train", str(recipe_config), "--run-dir", str(tmp_path / "none"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no checkpoint to resume from" in err and err.count("\n") == 1

    assert main(["train", str(recipe_config), "model.name=r2plus1d_tny", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'r2plus1d_tny'" in err and "r2plus1d_tiny" in err and err.count("\n") == 1

    assert main(["train", str(recipe_config), "--max-steps", "0", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--max-steps: expected a positive number of steps, got 0" in err and err.count("\n") == 1

    assert main(["train", str(recipe_config), "model.input_mode=flow", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "model.input_mode: Input should be 'rgb', 'diff' or 'rgb_diff'" in err and "got 'flow'" in err
    assert err.count("\n") == 1

    run_dir = tmp_path / "run"
    _train(recipe_config, run_dir, capsys)
    other = tmp_path / "classes.txt"
    names = (synth_classify / "classes.txt").read_text().split()
    other.write_text("\n".join([*names[:3], "jump", *names[4:], "wave"]) + "\n")
    rc = main(["test", str(recipe_config), f"data.classes={other}", "--checkpoint", str(run_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "checkpoint has 10 classes but the dataset has 11" in err
    assert f"index 3: {names[3]!r} (checkpoint) vs 'jump' (dataset)" in err


@pytest.mark.xdist_group("engine_subprocess")
def test_cli_error_has_no_traceback(recipe_config, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", "train", str(recipe_config), "--run-dir", str(tmp_path), "--resume"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_same_seed_is_the_same_run_and_another_seed_is_not(recipe_config, tmp_path, capsys):
    """Initial weights, clip order and augmentation all follow train.seed: two runs of one config are identical."""
    from vidstruct.models.checkpoint import load_model_checkpoint

    def losses(run_dir: Path) -> list[str]:
        return [line.split(",")[1] for line in (run_dir / "log.csv").read_text().splitlines()[1:]]

    runs = {}
    for name, extra in (("a", ()), ("b", ()), ("seed1", ("train.seed=1",))):
        _train(recipe_config, tmp_path / name, capsys, *extra)
        runs[name] = (losses(tmp_path / name), load_model_checkpoint(tmp_path / name / "model.pt")[0].state_dict())
    assert len(runs["a"][0]) == 2 and runs["a"][0] == runs["b"][0]  # the logged losses, to the printed digit
    assert all(torch.equal(v, runs["b"][1][k]) for k, v in runs["a"][1].items())
    assert runs["seed1"][0][0] != runs["a"][0][0]
