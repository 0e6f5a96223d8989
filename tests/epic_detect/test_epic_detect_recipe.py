"""configs/localization/epic100_bmn_relation.yaml resolves, passes check-data and trains two steps on a synthetic
copy laid out at its paths (the EPIC-100 annotation CSVs, a vidstruct.features/1 store), and detect-epic turns the
result into a valid C2 submission."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vidstruct.cli.main import main
from vidstruct.config import load_task_config
from vidstruct.eval.temporal import EPIC_TIOU

pytestmark = pytest.mark.xdist_group(name="epic_detect")
RECIPE = Path(__file__).resolve().parents[2] / "configs/localization/epic100_bmn_relation.yaml"
TINY = [
    "train.max_steps=2", "train.batch_size=2", "train.device=cpu", "train.ckpt_every=1000", "train.eval_every=0",
    "train.tensorboard=false", "data.num_workers=0", "data.temporal_scale=16", "data.window_stride=8",
    "model.max_duration=8",
]  # fmt: skip


def test_epic100_recipe_trains_two_steps_and_detects(epic_chain, tmp_path, monkeypatch, capsys) -> None:
    cfg = load_task_config(RECIPE).cfg
    assert cfg.eval.protocol == "epic" and EPIC_TIOU.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert cfg.postprocess.fusion == "none" and cfg.model.relation.enabled
    ann = tmp_path / "data/epic-kitchens-100-annotations"
    ann.mkdir(parents=True)
    for name in ("EPIC_100_train.csv", "EPIC_100_validation.csv", "EPIC_100_verb_classes.csv"):
        (ann / name).symlink_to(epic_chain.data / name)
    (tmp_path / "data/epic100").mkdir()
    (tmp_path / "data/epic100/features").symlink_to(epic_chain.features)
    monkeypatch.chdir(tmp_path)
    assert main(["check-data", str(RECIPE)]) == 0
    capsys.readouterr()
    assert main(["train", str(RECIPE), *TINY, "--out", str(tmp_path / "run"), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 2
    saved = torch.load(tmp_path / "run/localizer.pt", weights_only=True)
    assert saved["model_kwargs"]["hidden_dim_3d"] == 512 and saved["relation"] is not None
    assert saved["features"]["mode"] == "window" and saved["features"]["temporal_scale"] == 16
    sub = tmp_path / "val.json"
    assert main(["detect-epic", "--checkpoint", str(tmp_path / "run"), "--features", "data/epic100/features",
                 "--labels", str(ann / "EPIC_100_validation.csv"), "--out", str(sub), "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["videos"] == 2
    assert main(["eval", "epic-detection", str(ann / "EPIC_100_validation.csv"), str(sub), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"verb", "noun", "action"}
