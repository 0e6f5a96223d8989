"""``vidstruct train`` on ``task: detection`` configs: the head switch, config errors, a short run, resume, EMA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from detkit import detection_overrides

from vidstruct.cli.main import main
from vidstruct.config import load_task_config
from vidstruct.data.synth.actions import DETECT_ACTIONS
from vidstruct.errors import ConfigError
from vidstruct.models.detection import RelationModule, load_detector
from vidstruct.recipes.detection import build_detector, detection_data

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "detection"


@pytest.mark.parametrize(("name", "head"), [("synth_roi_tiny.yaml", "roi"), ("synth_relation_tiny.yaml", "relation")])
def test_the_config_chooses_the_head(detect_data: Path, name: str, head: str) -> None:
    task = load_task_config(CONFIGS / name, detection_overrides(detect_data))
    assert task.task == "detection" and task.cfg.model.head == head
    data = detection_data(task.cfg)
    assert data.classes == list(DETECT_ACTIONS) and data.class_ids == list(range(1, 15))
    assert data.train.hflip and data.train.flip_permutation[:2].tolist() == [1, 0]  # move_left <-> move_right
    model, builder = build_detector(task.cfg, len(data.classes), task.composed)
    assert builder["head"] == head
    assert isinstance(model.relation, RelationModule) if head == "relation" else model.relation is None


def test_config_mistakes_are_one_line_errors(detect_data: Path) -> None:
    path = CONFIGS / "synth_relation_tiny.yaml"
    task = load_task_config(path, detection_overrides(detect_data, "model.backbone.num_classes=3"))
    with pytest.raises(ConfigError, match="model.backbone.num_classes"):
        build_detector(task.cfg, 14, task.composed)
    task = load_task_config(path, detection_overrides(detect_data, "data.transform.flip_pairs=[[move_left, jump]]"))
    with pytest.raises(ConfigError, match="flip_pairs: 'jump' is not a class"):
        detection_data(task.cfg)
    with pytest.raises(ConfigError, match="model.head"):
        load_task_config(path, detection_overrides(detect_data, "model.head=mlp"))


def test_train_writes_a_detector_that_resumes_and_keeps_ema_weights(
    detect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.set_num_threads(1)
    cfg = str(CONFIGS / "synth_relation_tiny.yaml")
    run = tmp_path / "run"
    args = ["train", cfg, *detection_overrides(detect_data, "train.ema_decay=0.5"), "--out", str(run), "--json", "-q"]
    assert main([*args, "--max-steps", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2 and summary["model"] == str(run / "detector.pt")
    assert 0.0 <= summary["metrics"]["mAP"] <= 1.0 and "AP/approach" in summary["metrics"]
    assert main([*args, "--max-steps", "3", "--resume"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 3 and summary["resumed_from"].endswith("step_00000002.pt")
    bundle = load_detector(run)
    assert bundle.classes == list(DETECT_ACTIONS) and bundle.builder["head"] == "relation"
    assert bundle.preprocessing == {
        "num_frames": 8, "frame_interval": 4, "target_fps": 25.0, "size": 32, "mean": [0.45] * 3, "std": [0.225] * 3,
    }  # fmt: skip
    final = torch.load(run / "final.pt", weights_only=True)
    ema = {k[len("module.") :]: v for k, v in final["ema"].items() if k.startswith("module.")}
    state = bundle.model.state_dict()
    name = "classifier.weight"
    torch.testing.assert_close(state[name], ema[name])  # the detector holds the EMA weights ...
    assert not torch.equal(final["model"][name], ema[name])  # ... which differ from the raw ones


def test_bf16_autocast_runs_the_detection_loss_through_the_engine(detect_data: Path, tmp_path: Path) -> None:
    # the engine takes train.amp=bf16 for a detection config and writes a loadable detector; several steps, finite
    # losses and weights (the CPU bf16 NaN came from oneDNN's conv3d weight gradient on T < kt maps, now computed in
    # float32: vidstruct.models.resnet3d.conv; tests/detection/test_det_bf16.py overfits a batch under bf16)
    torch.set_num_threads(1)
    run = tmp_path / "bf16"
    overrides = detection_overrides(detect_data, "data.val=null", "train.amp=bf16", "train.log_every=1")
    assert main(["train", str(CONFIGS / "synth_relation_tiny.yaml"), *overrides, "--out", str(run), "--max-steps",
                 "5", "-q"]) == 0  # fmt: skip
    losses = [float(line.split(",")[1]) for line in (run / "log.csv").read_text().splitlines()[1:]]
    assert len(losses) == 5 and all(np.isfinite(losses))
    bundle = load_detector(run)
    assert bundle.builder["backbone_kwargs"]["input_mode"] == "diff"
    assert all(torch.isfinite(v).all() for v in bundle.model.state_dict().values() if v.is_floating_point())


def test_bf16_autocast_forward_matches_float32(detect_data: Path) -> None:
    # the forward pass under bf16 autocast (RoIAlign kept in float32) gives the float32 probabilities to bf16 precision
    task = load_task_config(CONFIGS / "synth_relation_tiny.yaml", detection_overrides(detect_data))
    torch.manual_seed(0)
    model, _ = build_detector(task.cfg, len(DETECT_ACTIONS), task.composed)
    model.eval()
    clip = torch.rand(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.9], [0.5, 0.2, 0.9, 0.8]], [[0.2, 0.2, 0.6, 0.6], [0.0, 0.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True], [True, False]])
    with torch.no_grad():
        full = torch.sigmoid(model(clip, boxes, mask))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = torch.sigmoid(model(clip, boxes, mask).float())
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half[mask], full[mask], atol=0.03, rtol=0)


def test_config_show_validates_a_detection_config(capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "show", str(CONFIGS / "synth_roi_tiny.yaml")]) == 0
    shown = capsys.readouterr().out
    assert "task: detection" in shown and "head: roi" in shown and "name: r2plus1d_tiny" in shown
    assert main(["config", "show", str(CONFIGS / "synth_roi_tiny.yaml"), "model.backbone.pool=mean"]) == 2
    assert "pool" in capsys.readouterr().err
