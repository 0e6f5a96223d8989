"""Every localization recipe for a public benchmark resolves and trains two steps on a synthetic copy of its data.

The copy (:mod:`zoo_layouts`) holds the annotation files in the benchmark's format (ActivityNet-1.3 / HACS JSON with
``database``, THUMOS14 per-class text files in the unpacked folders) and the snippet-feature directory the
localization task reads, at the paths the recipe names. Overrides shrink the temporal grid (T, D) and the run; the
model, its widths, the relation head, the reader and the post-processing are the recipe's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from zoo_layouts import ANET_CLASSES, THUMOS_CLASSES

from vidstruct.cli.main import main
from vidstruct.config import load_task_config
from vidstruct.eval.temporal import THUMOS_TIOU

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs/localization"
TINY = [
    "train.max_steps=2", "train.batch_size=2", "train.device=cpu", "train.ckpt_every=1000", "train.eval_every=0",
    "train.tensorboard=false", "data.num_workers=0",
]  # fmt: skip

RECIPES = {
    "activitynet13_bmn_relation.yaml": (["data.temporal_scale=16", "model.max_duration=8"], ANET_CLASSES, "bmn"),
    "hacs_bmn_relation.yaml": (["data.temporal_scale=16", "model.max_duration=8"], ANET_CLASSES, "bmn"),
    "hacs_weak.yaml": (["data.temporal_scale=16"], ANET_CLASSES, "weak_cas"),
    "thumos14_bmn.yaml": (
        ["data.temporal_scale=16", "data.window_stride=8", "model.max_duration=8"],
        THUMOS_CLASSES,
        "bmn",
    ),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_localization_recipe_resolves_and_trains_two_steps(
    recipe: str, zoo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, classes, kind = RECIPES[recipe]
    assert main(["config", "show", str(CONFIGS / recipe)]) == 0
    capsys.readouterr()
    cfg = load_task_config(CONFIGS / recipe).cfg
    monkeypatch.chdir(zoo_root)
    code = main(["train", str(CONFIGS / recipe), *TINY, *extra, "--out", str(tmp_path / "run"), "--json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["step"] == 2
    assert {"AR@100", "AUC", "average_mAP"} <= set(summary["metrics"])  # evaluated on the val/test subset
    saved = torch.load(tmp_path / "run/localizer.pt", weights_only=True)
    assert saved["classes"] == classes
    assert saved["model"] == kind == cfg.model.name
    if kind == "bmn":  # the recipe's widths and relation head reached the model
        for key in ("hidden_dim_1d", "hidden_dim_2d", "hidden_dim_3d", "num_sample", "num_sample_perbin"):
            assert saved["model_kwargs"][key] == cfg.model.builder_kwargs()[key], key
        assert (saved["relation"] is not None) == cfg.model.relation.enabled


def test_thumos14_recipe_evaluates_at_its_thresholds() -> None:
    """THUMOS14 is scored at tIoU 0.3:0.1:0.7 (the recipe's eval.protocol)."""
    cfg = load_task_config(CONFIGS / "thumos14_bmn.yaml").cfg
    assert cfg.eval.protocol == "thumos"
    assert THUMOS_TIOU.tolist() == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7])
