"""The demo's localization step with a tiny budget: synth → features → BMN → metrics → localize."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from localizekit import SPEC
from PIL import Image

from vidstruct.cli.main import build_parser, main
from vidstruct.data.synth.actions import LOCALIZE_ACTIONS
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A random-weight backbone over the synth classes (class fusion needs them all), 5 videos, 6 BMN steps."""
    from vidstruct.recipes.demo_localization import run_localization_demo

    out = tmp_path_factory.mktemp("demo")
    torch.manual_seed(0)
    model = MODELS.build("r2plus1d_tiny", num_classes=len(LOCALIZE_ACTIONS) + 1, widths=[4, 4, 4, 8])
    model.input_spec = SPEC
    backbone = save_model_checkpoint(
        out / "model.ckpt", model.eval(), model_name="r2plus1d_tiny", model_kwargs={"widths": [4, 4, 4, 8]},
        classes=[*LOCALIZE_ACTIONS, "stay_still"],
    )  # fmt: skip
    summary = run_localization_demo(out, backbone, steps=6, num_videos=5, duration_s=4.0, size=64, quiet=True)
    return out, summary


def test_demo_writes_localizer_json_and_png(demo: tuple[Path, dict]) -> None:
    from vidstruct.models.checkpoint import sha256_file
    from vidstruct.models.localization.checkpoint import load_localizer

    out, summary = demo
    assert summary["videos"] == {"training": 4, "held_out": 1}  # synth puts every 5th video in validation
    assert summary["training"]["steps"] == 6
    bundle = load_localizer(summary["files"]["localizer"])
    assert bundle.kind == "bmn" and set(bundle.classes) <= set(LOCALIZE_ACTIONS)
    assert bundle.features["backbone_sha256"] == sha256_file(out / "model.ckpt")
    for key in ("AR@1", "AR@10", "AR@100", "mAP@0.5", "average_mAP"):
        assert 0.0 <= summary["held_out"][key] <= 1.0
    assert 0.0 <= summary["held_out"]["AUC"] <= 100.0

    doc = json.loads(Path(summary["files"]["localization"]).read_text())
    assert doc["video"] == summary["video"] and doc["video"].endswith("synth_00004.mp4")
    truth = json.loads((out / "localize_data" / "annotations.json").read_text())["database"]["synth_00004"]
    assert doc["ground_truth"] == [
        {"label": a["label"], "start_s": a["segment"][0], "end_s": a["segment"][1]} for a in truth["annotations"]
    ]
    assert 0 < len(doc["segments"]) <= 10
    for s in doc["segments"]:
        assert s["label"] in bundle.classes and 0 <= s["start_s"] < s["end_s"] <= doc["duration_s"] + 1e-9
        assert 0 <= s["score"] <= 1
    with Image.open(summary["files"]["localization_png"]) as img:
        assert img.format == "PNG" and np.asarray(img.convert("RGB")).std() > 10


def test_demo_json_equals_the_localize_command(demo: tuple[Path, dict], capsys: pytest.CaptureFixture[str]) -> None:
    out, summary = demo
    args = [summary["video"], "--checkpoint", summary["files"]["localizer"], "--top-k", "10", "--json"]
    assert main(["localize", *args, "--device", "cpu", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    doc = json.loads(Path(summary["files"]["localization"]).read_text())
    assert printed["segments"] == doc["segments"] and printed["duration_s"] == doc["duration_s"]


def test_demo_flag_turns_localization_off() -> None:
    args = build_parser().parse_args(["demo", "--out", "x", "--no-localization"])
    assert args.localization is False
    assert build_parser().parse_args(["demo"]).localization is True
