"""The ActivityNet recipe's whole chain as its header documents it: videos beside the annotation JSON ->
``vidstruct extract-features`` (keyed by the JSON's video ids) -> ``check-data`` -> two BMN + relation steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from zoo_layouts import ANET_CLASSES, ClipPool

from vidstruct.cli.main import main
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint

CONFIG = Path(__file__).resolve().parents[2] / "configs/localization/activitynet13_bmn_relation.yaml"


def test_activitynet_recipe_from_videos_to_two_steps(
    clip_pool: ClipPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    base = Path("data/activitynet13/annotations")
    database = {}
    for k in range(6):
        vid = f"zz{k:03d}abcDE"
        clip_pool.copy(k, ".mp4", base / "videos" / f"{vid}.mp4")  # 1.5 s each
        database[vid] = {
            "subset": "validation" if k >= 4 else "training",
            "duration": 1.5,
            "annotations": [{"segment": [0.25, 1.0], "label": ANET_CLASSES[k % 2]}],
        }
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None}] + [
        {"nodeId": i + 1, "nodeName": c, "parentId": 0} for i, c in enumerate(ANET_CLASSES)
    ]
    (base / "activity_net.v1-3.min.json").write_text(json.dumps({"taxonomy": taxonomy, "database": database}))
    torch.manual_seed(0)  # a backbone "fine-tuned on ActivityNet": random weights, the dataset's classes
    backbone = MODELS.build("r2plus1d_tiny", widths=[8, 8, 16, 16], num_classes=len(ANET_CLASSES))
    save_model_checkpoint(
        tmp_path / "backbone.pt", backbone, model_name="r2plus1d_tiny", model_kwargs={"widths": [8, 8, 16, 16]},
        classes=ANET_CLASSES,
    )  # fmt: skip
    ann = str(base / "activity_net.v1-3.min.json")
    code = main([
        "extract-features", "--checkpoint", str(tmp_path / "backbone.pt"), "--videos", ann,
        "--out", "data/activitynet13/features", "--window-s", "0.5", "--stride-s", "0.25", "--device", "cpu", "--quiet",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["check-data", str(CONFIG), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"] == {"train": {"samples": 4, "bad": 0}, "val": {"samples": 2, "bad": 0}}
    tiny = [
        "train.max_steps=2", "train.batch_size=2", "train.device=cpu", "train.ckpt_every=1000",
        "train.tensorboard=false", "data.num_workers=0", "data.temporal_scale=8", "model.max_duration=4",
    ]  # fmt: skip
    assert main(["train", str(CONFIG), *tiny, "--out", str(tmp_path / "run"), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 2
    saved = torch.load(tmp_path / "run/localizer.pt", weights_only=True)
    assert saved["features"]["backbone_model"] == "r2plus1d_tiny"
    assert saved["features"]["backbone_classes"] == ANET_CLASSES
