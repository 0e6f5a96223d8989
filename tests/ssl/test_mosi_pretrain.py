"""MoSI pretraining through the recognition engine: the pretext head, ``vidstruct pretrain-mosi``, the
pretrain → fine-tune round trip, one-line errors, and motion features that a linear probe can read."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from vidstruct.cli.main import main
from vidstruct.config import ExperimentConfig, MoSIExperimentConfig, check_model_kwargs, load_config, validate
from vidstruct.config.loader import ComposedConfig
from vidstruct.models import MODELS
from vidstruct.models.convert import load_checkpoint_into
from vidstruct.recipes.mosi import build_generator, run_pretraining
from vidstruct.ssl.mosi import MotionLabelSpace
from vidstruct.ssl.mosi.head import MoSIHead, attach_pretext_head

ROOT = Path(__file__).resolve().parents[2]
TINY = {"name": "r2plus1d_tiny", "widths": [8, 8, 8, 8], "dropout": 0.0}
JOINT_KEYS = ["head.pretext.joint.weight", "head.pretext.joint.bias"]
CLASSIFIER_KEYS = ["head.fc.weight", "head.fc.bias"]


def _deep_update(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        base[k] = _deep_update(dict(base.get(k) or {}), v) if isinstance(v, dict) else v
    return base


def mosi_config(**over: Any) -> dict[str, Any]:
    """A 4-frame, 32 px MoSI config on 4 procedural images; 2 steps of 2 images (18 clips)."""
    cfg = {
        "model": dict(TINY),
        "data": {"transform": {"short_side": 36, "crop_size": 32}, "num_workers": 0},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0},
        "train": {"max_steps": 2, "batch_size": 2, "device": "cpu", "ckpt_every": 1, "log_every": 1,
                  "tensorboard": False},
        "test": {"batch_size": 9},
        "mosi": {"num_frames": 4, "crop_size": 32, "short_side": [40, 48], "head_dropout": 0.0,
                 "source": {"kind": "procedural", "count": 4, "size": 48, "seed": 0},
                 "val_source": {"kind": "procedural", "count": 1, "size": 48, "seed": 1}},
    }  # fmt: skip
    return _deep_update(cfg, over)


def write(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def pretrain_cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["pretrain-mosi", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    rc = main(["--quiet", "pretrain-mosi", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 synthetic classify clips (10 motion classes), 32 x 32 px, 1 s at 8 fps."""
    from vidstruct.data.synth import generate

    out = tmp_path_factory.mktemp("mosi_synth")
    generate("classify", out, 20, seed=0, size=32, fps=8, duration=1.0)
    return out


def finetune_config(synth: Path, init_from: Path) -> dict[str, Any]:
    return {
        "model": {**TINY, "init_from": str(init_from)},
        "data": {
            "train": {"format": "kinetics", "annotations": str(synth / "train.txt")},
            "classes": str(synth / "classes.txt"),
            "sampler": {"clip_len": 4, "frame_interval": 2},
            "transform": {"short_side": 32, "crop_size": 32},
            "num_workers": 0,
        },
        "optim": {"name": "adamw", "lr": 1e-4, "weight_decay": 0.0},
        "train": {"max_steps": 1, "batch_size": 4, "device": "cpu", "log_every": 1, "tensorboard": False},
    }


# ---------------------------------------------------------------------------- the pretext head


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("r2plus1d_tiny", {"widths": [8, 8, 8, 8]}),
        ("tada2d_tiny", {}),
        (
            "hybrid_transformer",
            {
                "backbone": "r2plus1d_tiny",
                "backbone_kwargs": {"widths": [8, 8, 8, 8]},
                "hidden_size": 16,
                "depth": 1,
                "num_heads": 2,
            },
        ),
    ],
)
def test_pretext_head_replaces_the_classifier_of_any_backbone(name, kwargs):
    torch.manual_seed(0)
    model = MODELS.build(name, num_classes=10, **kwargs)
    prefix = getattr(model, "head_prefix", "head.")
    attach_pretext_head(model, MotionLabelSpace(mode="separate"))
    keys = [k for k in model.state_dict() if k.startswith(prefix)]
    assert sorted(keys) == sorted(f"{prefix}pretext.{h}.{p}" for h in ("move_x", "move_y") for p in ("weight", "bias"))
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert set(out) == {"move_x", "move_y"} and out["move_x"].shape == (2, 5) and out["move_y"].shape == (2, 5)

    # the same backbone for fine-tuning: pretext keys unexpected (dropped), classifier re-initialized
    fresh = MODELS.build(name, num_classes=10, **kwargs)
    report = load_checkpoint_into(fresh, model.state_dict(), strict=True)
    assert report.head_reinitialized and sorted(report.unexpected) == sorted(keys)
    assert all(k.startswith(prefix) for k in report.missing) and report.missing
    body = [k for k in fresh.state_dict() if not k.startswith(prefix)]
    assert all(torch.equal(fresh.state_dict()[k], model.state_dict()[k]) for k in body)


def test_joint_head_gives_nine_logits_and_never_collides_with_a_nine_class_classifier():
    model = MODELS.build("r2plus1d_tiny", num_classes=9, widths=[8, 8, 8, 8])
    head = attach_pretext_head(model, MotionLabelSpace(), dropout=0.1)
    assert isinstance(model.head, MoSIHead) and head.dropout.p == 0.1 and model.num_classes == 9
    assert model(torch.randn(3, 3, 4, 32, 32)).shape == (3, 9)
    # a 9-class fine-tuning model must not take the pretext layer as its classifier
    report = load_checkpoint_into(MODELS.build("r2plus1d_tiny", num_classes=9, widths=[8, 8, 8, 8]), model.state_dict())
    assert report.head_reinitialized and report.missing == CLASSIFIER_KEYS and report.unexpected == JOINT_KEYS


# ---------------------------------------------------------------------------- CLI, checkpoints, fine-tuning


def test_pretrain_then_finetune_round_trip(tmp_path, capsys, caplog, synth):
    run = tmp_path / "mosi"
    summary = pretrain_cli(capsys, str(write(tmp_path / "mosi.yaml", mosi_config())), "--out", str(run))
    assert summary["step"] == 2 and set(summary["metrics"]) == {"top1", "top5", "mean_class_accuracy"}
    assert [ln.split(",")[0] for ln in (run / "log.csv").read_text().splitlines()[1:]] == ["1", "2"]
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["format"] == "vidstruct.model/1" and ckpt["model"] == "r2plus1d_tiny"
    assert ckpt["source"]["format"] == "mosi" and ckpt["source"]["pretext_head"] == "head.pretext."
    assert len(ckpt["classes"]) == 9 and ckpt["classes"][-1] == "static"
    assert ckpt["input_spec"]["num_frames"] == 4 and ckpt["input_spec"]["crop_size"] == 32
    pretrained = ckpt["state_dict"]
    assert pretrained["head.pretext.joint.weight"].shape == (9, 8) and "head.fc.weight" not in pretrained
    final = torch.load(run / "final.pt", weights_only=True)["model"]
    assert all(torch.equal(final[k], v) for k, v in pretrained.items())  # model.pt = the trained weights

    # model.init_from=<MoSI model.pt> in a recognition config: backbone loaded, head reported and re-initialized
    ft_cfg = write(tmp_path / "ft.yaml", finetune_config(synth, run / "model.pt"))
    cfg, composed = load_config(ft_cfg)
    from vidstruct.recipes.recognition import build_model

    caplog.set_level(logging.WARNING)
    model, _ = build_model(cfg, 10, composed)
    log_line = caplog.text
    assert "head re-initialized" in log_line and "2 missing keys (head.fc.weight, head.fc.bias)" in log_line
    assert "2 unexpected keys (head.pretext.joint.weight, head.pretext.joint.bias)" in log_line
    state = model.state_dict()
    body = [k for k in pretrained if not k.startswith("head.")]
    assert len(body) == len(state) - 2 and all(torch.equal(state[k], pretrained[k]) for k in body)
    assert state["head.fc.weight"].shape == (10, 8) and model.head.fc.weight.std() < 0.05  # fresh N(0, 0.01²)

    # the CLI fine-tunes from it: one small step keeps the backbone near the MoSI weights
    caplog.clear()
    assert main(["train", str(ft_cfg), "--out", str(tmp_path / "ft"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 1
    assert "head re-initialized" in caplog.text and "head.pretext.joint.weight" in caplog.text
    tuned = torch.load(tmp_path / "ft" / "model.pt", weights_only=True)["state_dict"]
    assert tuned["head.fc.weight"].shape == (10, 8) and not any(k.startswith("head.pretext") for k in tuned)
    conv = next(k for k in body if pretrained[k].dim() == 5)
    torch.manual_seed(1)  # pretraining started from train.seed 0
    random_init = MODELS.build("r2plus1d_tiny", num_classes=10, widths=[8, 8, 8, 8]).state_dict()[conv]
    moved = (tuned[conv] - pretrained[conv]).norm() / pretrained[conv].norm()
    assert moved < 0.05 < (random_init - pretrained[conv]).norm() / pretrained[conv].norm()


def test_separate_heads_and_exact_resume(tmp_path, capsys):
    # constant LR: the schedule does not depend on max_steps, so 1 step + 1 resumed step = 2 steps
    cfg = write(tmp_path / "mosi.yaml", mosi_config(mosi={"label_mode": "separate"}, optim={"schedule": "constant"}))
    run = tmp_path / "run"
    first = pretrain_cli(capsys, str(cfg), "--out", str(run), "--max-steps", "1")
    assert first["step"] == 1 and {"move_x_top1", "move_y_top1"} <= set(first["metrics"])
    resumed = pretrain_cli(capsys, str(cfg), "--out", str(run), "--max-steps", "2", "--resume")
    assert resumed["step"] == 2 and resumed["resumed_from"].endswith("step_00000001.pt")

    straight = tmp_path / "straight"
    pretrain_cli(capsys, str(cfg), "--out", str(straight), "--max-steps", "2")
    a = torch.load(run / "model.pt", weights_only=True)
    b = torch.load(straight / "model.pt", weights_only=True)
    assert a["state_dict"]["head.pretext.move_x.weight"].shape == (5, 8) and a["classes"] is None
    assert all(torch.equal(v, b["state_dict"][k]) for k, v in a["state_dict"].items())  # resume is exact


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_pretrain_mosi_under_torchrun_with_two_cpu_processes(tmp_path):
    """DDP (gloo, 2 ranks) through the same entry point: separate heads, sharded validation, one model.pt."""
    cfg = write(tmp_path / "ddp.yaml", mosi_config(mosi={"label_mode": "separate", "source": {"count": 8}}))
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        "-m", "vidstruct", "pretrain-mosi", str(cfg), "--out", str(run), "--json",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # only rank 0 prints: exactly one JSON document
    assert summary["step"] == 2 and {"move_x_top1", "move_y_top1"} <= set(summary["metrics"])
    state = torch.load(run / "checkpoints" / "step_00000002.pt", weights_only=True)
    assert state["data"]["world_size"] == 2 and state["data"]["per_step"] == 2  # 2 images per rank and step
    assert [ln.split(",")[0] for ln in (run / "log.csv").read_text().splitlines()[1:]] == ["1", "2"]
    model = torch.load(run / "model.pt", weights_only=True)
    assert model["source"]["label_mode"] == "separate"
    assert {k for k in model["state_dict"] if k.startswith("head.")} == {
        f"head.pretext.{h}.{p}" for h in ("move_x", "move_y") for p in ("weight", "bias")
    }


def test_video_frame_and_image_list_sources(tmp_path, capsys, synth):
    # frames of a video data set's training videos (labels unused), validation on its val videos
    cfg = mosi_config(
        data={"train": {"format": "kinetics", "annotations": str(synth / "train.txt")},
              "val": {"format": "kinetics", "annotations": str(synth / "val.txt")}},
        mosi={"source": {"kind": "videos"}, "val_source": {"kind": "videos", "split": "val"}},
    )  # fmt: skip
    summary = pretrain_cli(
        capsys, str(write(tmp_path / "v.yaml", cfg)), "--out", str(tmp_path / "v"), "--max-steps", "1"
    )
    assert summary["step"] == 1 and 0 <= summary["metrics"]["top1"] <= 1

    # an image list file with paths relative to it
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(2):
        _png(images / f"{i}.png", (64, 48))
    (tmp_path / "list.txt").write_text("# two images\nimgs/0.png\n\nimgs/1.png\n")
    cfg = mosi_config(mosi={"source": {"kind": "list", "path": str(tmp_path / "list.txt")}, "val_source": None})
    summary = pretrain_cli(
        capsys, str(write(tmp_path / "l.yaml", cfg)), "--out", str(tmp_path / "l"), "--max-steps", "1"
    )
    assert summary["step"] == 1 and summary["metrics"] == {}


def test_validation_counts_every_clip_of_every_image_once():
    from vidstruct.engine.evaluator import predict
    from vidstruct.ssl.mosi import MoSIDataset, ProceduralSource
    from vidstruct.ssl.mosi.pretext import IndexedItems

    cfg = validate(MoSIExperimentConfig, ComposedConfig(mosi_config()))
    data = IndexedItems(
        MoSIDataset(ProceduralSource(3, height=48, width=48), build_generator(cfg, train=False), clips="sample")
    )
    model = MODELS.build("r2plus1d_tiny", num_classes=9, widths=[8, 8, 8, 8])
    attach_pretext_head(model, MotionLabelSpace())
    preds = predict(model, data)
    assert preds.indices.tolist() == list(range(27)) and preds.targets.tolist() == list(range(9)) * 3


def test_configs_in_the_repository_validate():
    paths = sorted((ROOT / "configs" / "mosi").glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        cfg, composed = load_config(path, schema=MoSIExperimentConfig)
        check_model_kwargs(cfg, composed)
        gen = build_generator(cfg, train=True)
        assert len(gen) == (9 if cfg.mosi.decouple else 25)
    sep, _ = load_config(ROOT / "configs" / "mosi" / "r2plus1d_tiny_separate.yaml", schema=MoSIExperimentConfig)
    assert sep.mosi.label_mode == "separate" and sep.mosi.source.kind == "procedural"


def test_the_documented_pretrain_config_initializes_the_documented_finetune_config():
    """configs/mosi/r2plus1d_tiny_procedural.yaml says its model.pt fine-tunes with the recognition config:
    the backbones must match exactly (a width mismatch would be refused at model.init_from)."""
    from vidstruct.recipes.mosi import build_pretext_model
    from vidstruct.recipes.recognition import build_model

    mosi_cfg, mosi_composed = load_config(
        ROOT / "configs/mosi/r2plus1d_tiny_procedural.yaml", schema=MoSIExperimentConfig
    )
    pretext, _ = build_pretext_model(mosi_cfg, mosi_composed)
    ft_cfg, ft_composed = load_config(ROOT / "configs/recognition/synth_r2plus1d_tiny.yaml")
    model, _ = build_model(ft_cfg, 10, ft_composed, init=False)
    report = load_checkpoint_into(model, pretext.state_dict(), strict=True)
    assert report.head_reinitialized and report.unexpected == JOINT_KEYS and not report.mismatched


# ---------------------------------------------------------------------------- one-line errors


def _folder_config(tmp_path: Path, folder: Path, **data: Any) -> Path:
    over = {"mosi": {"source": {"kind": "folder", "path": str(folder)}, "val_source": None}}
    if data:
        over["data"] = data
    return write(tmp_path / "cfg.yaml", mosi_config(**over))


def _png(path: Path, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_bad_images_give_one_line_errors(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    cfg = str(_folder_config(tmp_path, images))
    err = one_line_error(capsys, cfg, "--out", str(tmp_path / "r0"))
    assert str(images) in err and "holds no images" in err

    _png(images / "good.png", (64, 48))
    small = _png(images / "small.png", (40, 20))
    err = one_line_error(capsys, cfg, "--out", str(tmp_path / "r1"))
    assert f"{small}: image 40x20 is too small for MoSI crops of 32 px" in err
    small.unlink()

    corrupt = images / "corrupt.jpg"
    corrupt.write_bytes(b"this is not a jpeg")
    err = one_line_error(capsys, cfg, "--out", str(tmp_path / "r2"))
    assert f"{corrupt}: cannot decode image" in err
    corrupt.unlink()

    # a valid header with truncated pixel data fails at load time, in a DataLoader worker: still one line
    data = _png(tmp_path / "whole.png", (64, 64)).read_bytes()
    (images / "truncated.png").write_bytes(data[: len(data) // 2])
    cfg = str(_folder_config(tmp_path, images, num_workers=1))
    err = one_line_error(capsys, cfg, "--out", str(tmp_path / "r3"))
    assert f"{images / 'truncated.png'}: cannot decode image" in err and "Traceback" not in err


def test_config_errors_name_the_key(tmp_path, capsys):
    cfg = str(write(tmp_path / "cfg.yaml", mosi_config()))
    err = one_line_error(capsys, cfg, "mosi.speds=5", "--out", str(tmp_path / "a"))
    assert "unknown key 'mosi.speds'" in err
    err = one_line_error(capsys, cfg, "mosi.source.kind=folder", "--out", str(tmp_path / "b"))
    assert "mosi.source" in err and "needs 'path'" in err
    err = one_line_error(capsys, cfg, "mosi.num_speeds=4", "--out", str(tmp_path / "c"))
    assert "num_speeds must be an odd integer" in err
    err = one_line_error(capsys, cfg, "--max-steps", "0", "--out", str(tmp_path / "d"))
    assert "--max-steps" in err
    err = one_line_error(capsys, cfg, "--out", str(tmp_path / "none"), "--resume")
    assert "no checkpoint to resume from" in err


def test_cli_error_has_no_traceback_in_a_subprocess(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = _folder_config(tmp_path, empty)
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", "pretrain-mosi", str(cfg), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {empty}: image folder holds no images "
                                               "(.bmp, .jpeg, .jpg, .png, .webp)"]  # fmt: skip


# ---------------------------------------------------------------------------- learned motion features

MOVES = ("move_left", "move_right", "move_up", "move_down")
PROBE_MODEL = {"name": "r2plus1d_tiny", "widths": [8, 8, 16, 32], "dropout": 0.0}


def direction_clips(per_class: int, seed: int, frames: int = 6, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic move_* clips rendered in memory: ``([N, 3, T, H, W] normalized, [N] direction index)``."""
    from vidstruct.data.synth import render_clip

    clips, labels = [], []
    for k, action in enumerate(MOVES):
        for i in range(per_class):
            frames_u8, _ = render_clip(action, size, 10.0, frames / 10.0, np.random.default_rng([seed, k, i]))
            clip = torch.from_numpy(frames_u8).float().div(255).permute(3, 0, 1, 2)
            clips.append((clip - 0.45) / 0.225)
            labels.append(k)
    return torch.stack(clips), torch.tensor(labels)


def probe_accuracy(model: torch.nn.Module, train: tuple, test: tuple, ridge: float = 0.1) -> float:
    """Held-out accuracy of a ridge-regression linear probe (one-hot targets, closed form) on
    standardized ``forward_features``."""
    model.eval()
    with torch.no_grad():
        f_train, f_test = model.forward_features(train[0]), model.forward_features(test[0])
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    a = torch.cat([(f_train - mu) / sd, torch.ones(len(f_train), 1)], 1)
    b = torch.cat([(f_test - mu) / sd, torch.ones(len(f_test), 1)], 1)
    y = torch.nn.functional.one_hot(train[1], len(MOVES)).float()
    w = torch.linalg.solve(a.T @ a + ridge * len(a) * torch.eye(a.shape[1]), a.T @ y)
    return float(((b @ w).argmax(1) == test[1]).float().mean())


@pytest.mark.slow
def test_mosi_features_separate_motion_directions_better_than_random(tmp_path):
    # 300 steps of 2 images (18 clips, 6 frames of 24 px), no mask / colour jitter: the pretext loss falls
    # from ln 9 = 2.2 to ~0.5 (the plateau before it drops lasts ~100 steps at this LR)
    cfg = mosi_config(
        model=PROBE_MODEL,
        optim={"lr": 1e-2, "schedule": "constant"},
        train={"max_steps": 300, "batch_size": 2, "ckpt_every": 300, "log_every": 50},
        mosi={"num_frames": 6, "crop_size": 24, "short_side": [30, 36], "static_mask": False, "color_jitter": None,
              "source": {"count": 1000, "size": 48}, "val_source": None},
    )  # fmt: skip
    cfg["data"]["transform"] = {"short_side": 24, "crop_size": 24}
    run_pretraining(validate(MoSIExperimentConfig, ComposedConfig(cfg)), tmp_path / "run", quiet=True)
    pretrained = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["state_dict"]

    train, test = direction_clips(24, seed=0, size=24), direction_clips(16, seed=1, size=24)
    kwargs = {k: v for k, v in PROBE_MODEL.items() if k != "name"}
    torch.manual_seed(1)
    random_net = MODELS.build("r2plus1d_tiny", num_classes=4, **kwargs)
    mosi_net = MODELS.build("r2plus1d_tiny", num_classes=4, **kwargs)
    load_checkpoint_into(mosi_net, pretrained)
    random_acc, mosi_acc = probe_accuracy(random_net, train, test), probe_accuracy(mosi_net, train, test)
    # chance is 0.25; measured: MoSI ~0.9 (0.6-0.95 over pretraining seeds), random init ~0.25
    assert mosi_acc >= 0.5 and mosi_acc >= random_acc + 0.25, (mosi_acc, random_acc)


def test_finetune_config_schema_is_the_recognition_one(synth, tmp_path):
    # the MoSI schema is a superset: a recognition config validates as MoSI config with defaults
    cfg = validate(ExperimentConfig, ComposedConfig(finetune_config(synth, tmp_path / "x.pt")))
    mosi = validate(MoSIExperimentConfig, ComposedConfig(finetune_config(synth, tmp_path / "x.pt")))
    assert mosi.model == cfg.model and mosi.mosi.label_mode == "joint" and mosi.mosi.num_frames == 16
