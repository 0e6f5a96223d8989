"""Every recognition recipe for a public benchmark resolves and trains two steps on a synthetic copy of its dataset.

The copy (:mod:`zoo_layouts`) is laid out in the dataset's real file format at the paths the recipe names, so a
wrong key, a wrong path or a format the reader does not accept fails here. Overrides only shrink the inputs
(frames, crop, batch, steps) and turn off what needs a GPU (bf16); the model, its builder arguments, the
annotation reader and the optimizer schedule are the recipe's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from zoo_layouts import HMDB_CLASSES, KINETICS_CLASSES, SSV2_LABELS, UCF_CLASSES

from vidstruct.cli.main import main
from vidstruct.config import load_task_config
from vidstruct.models import MODELS

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"

#: shrink the run, not the recipe: two optimizer steps of two clips on the CPU, no bf16, no TensorBoard
TINY_RUN = [
    "train.max_steps=2", "train.batch_size=2", "train.device=cpu", "train.amp=none", "train.precise_bn_batches=0",
    "train.ckpt_every=1000", "train.eval_every=0", "train.tensorboard=false", "data.num_workers=0",
    "test.batch_size=1", "data.transform.short_side=40", "data.transform.crop_size=32",
]  # fmt: skip

RECIPES = {
    "recognition/kinetics400_slowfast_r50_8x8.yaml": (["data.sampler.clip_len=8"], sorted(KINETICS_CLASSES)),
    "recognition/kinetics400_x3d_m.yaml": (["data.sampler.clip_len=4"], sorted(KINETICS_CLASSES)),
    "recognition/kinetics400_csn_r101.yaml": (["data.sampler.clip_len=8"], sorted(KINETICS_CLASSES)),
    "recognition/kinetics400_vivit_b_fe.yaml": (
        ["data.sampler.clip_len=4", "model.num_frames=4", "model.image_size=32"],
        sorted(KINETICS_CLASSES),
    ),
    "recognition/kinetics400_timesformer_b.yaml": (
        ["data.sampler.clip_len=2", "model.num_frames=2", "model.image_size=32"],
        sorted(KINETICS_CLASSES),
    ),
    "recognition/ssv2_slowfast_r50.yaml": (["data.sampler.clip_len=8"], SSV2_LABELS),
}

#: SSv2's mirrored classes: flipping a clip must swap these labels (the recipe's comment gives the same override)
SSV2_FLIP_PAIRS = (
    '[["Pushing something from left to right", "Pushing something from right to left"], '
    '["Turning the camera left while filming something", "Turning the camera right while filming something"]]'
)


def run_cli(*argv: str) -> int:
    return main(list(argv))


def train_recipe(recipe: str, extra: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    """``vidstruct train RECIPE`` with the tiny overrides; the JSON summary."""
    code = run_cli("train", str(CONFIGS / recipe), *TINY_RUN, *extra, "--out", str(out), "--json", "--quiet")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_resolves_and_trains_two_steps(
    recipe: str, zoo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, classes = RECIPES[recipe]
    assert run_cli("config", "show", str(CONFIGS / recipe)) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    recipe_cfg = load_task_config(CONFIGS / recipe).cfg
    assert shown["model"] == recipe_cfg.model.model_dump(mode="json")
    monkeypatch.chdir(zoo_root)  # the recipe's data/<dataset>/ paths are relative to the run directory
    summary = train_recipe(recipe, extra, tmp_path / "run", capsys)
    assert summary["step"] == 2
    assert "top1" in summary["metrics"]  # validated on the val split of the copy
    saved = torch.load(tmp_path / "run/model.pt", weights_only=True)
    assert saved["model"] == recipe_cfg.model.name
    assert saved["classes"] == classes
    kept = {k: v for k, v in recipe_cfg.model.builder_kwargs().items() if k not in ("num_frames", "image_size")}
    for key, value in kept.items():  # the recipe's architecture arguments reached the builder unchanged
        stored = saved["model_kwargs"][key]
        assert (list(stored) if isinstance(stored, tuple) else stored) == value, key


def test_ssv2_recipe_trains_with_the_flip_label_map(
    zoo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The override the SSv2 recipe documents (flip + label swap of left/right classes) resolves against the
    copy's labels json and trains; a pair naming a class the labels json lacks is a one-line error."""
    monkeypatch.chdir(zoo_root)
    recipe = str(CONFIGS / "recognition/ssv2_slowfast_r50.yaml")
    flip = ["data.transform.hflip=true", f"data.transform.flip_pairs={SSV2_FLIP_PAIRS}", "data.sampler.clip_len=4"]
    summary = train_recipe("recognition/ssv2_slowfast_r50.yaml", flip, tmp_path / "run", capsys)
    assert summary["step"] == 2
    bad = '[["Pushing something from left to right", "Pushing something leftwards"]]'
    code = run_cli("train", recipe, *TINY_RUN, "data.transform.hflip=true", f"data.transform.flip_pairs={bad}",
                   "--out", str(tmp_path / "bad"), "--quiet")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "flip_pairs: unknown class 'Pushing something leftwards'" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("dataset", "classes"), [("ucf101", UCF_CLASSES), ("hmdb51", HMDB_CLASSES)], ids=["ucf101", "hmdb51"]
)
def test_mosi_pretraining_then_fine_tuning_split_1(
    dataset: str,
    classes: list[str],
    zoo_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``pretrain-mosi`` on the split-1 training videos, then the fine-tuning recipe from its ``model.pt`` at the
    path the recipe names (``runs/mosi_<dataset>/model.pt``): the backbone weights arrive, the classifier is new."""
    monkeypatch.chdir(tmp_path)  # runs/ is written here; the data is the shared copy
    (tmp_path / "data").symlink_to(zoo_root / "data", target_is_directory=True)
    pretrain = str(CONFIGS / f"mosi/{dataset}_r2plus1d10.yaml")
    assert run_cli("config", "show", pretrain) == 0
    assert yaml.safe_load(capsys.readouterr().out)["mosi"]["source"]["kind"] == "videos"
    tiny_mosi = [
        "train.max_steps=2", "train.batch_size=1", "train.device=cpu", "train.amp=none", "train.tensorboard=false",
        "data.num_workers=0", "mosi.num_frames=4", "mosi.crop_size=32", "mosi.short_side=40",
        "train.seed=1",  # not the fine-tuning seed: its random initial weights differ from the pretrained ones
    ]  # fmt: skip
    code = run_cli("pretrain-mosi", pretrain, *tiny_mosi, "--out", f"runs/mosi_{dataset}", "--json", "--quiet")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["step"] == 2
    pretrained = torch.load(tmp_path / f"runs/mosi_{dataset}/model.pt", weights_only=True)["state_dict"]

    recipe = f"recognition/{dataset}_r2plus1d10_mosi.yaml"
    assert load_task_config(CONFIGS / recipe).cfg.model.init_from == f"runs/mosi_{dataset}/model.pt"
    summary = train_recipe(recipe, ["data.sampler.clip_len=4", "optim.lr=1e-12"], tmp_path / "ft", capsys)
    assert summary["step"] == 2
    tuned = torch.load(tmp_path / "ft/model.pt", weights_only=True)
    assert tuned["classes"] == classes and tuned["model_kwargs"]["depths"] == [1, 1, 1, 1]
    stem = [k for k in tuned["state_dict"] if k.startswith("stem.") and k.endswith("weight")][0]
    # lr 1e-12: two steps leave the MoSI weights in place, and they are not the fine-tuning run's own random init
    assert torch.allclose(tuned["state_dict"][stem], pretrained[stem], atol=1e-6)
    torch.manual_seed(0)
    fresh = MODELS.build("r2plus1d_r18", depths=[1, 1, 1, 1], num_classes=len(classes)).state_dict()[stem]
    assert not torch.allclose(fresh, pretrained[stem], atol=1e-3)
    assert not any(k.startswith("head.") and "pretext" in k for k in tuned["state_dict"])


def test_kinetics_recipe_tests_with_its_published_views(
    zoo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vidstruct test`` on the recipe: 10 clips x 3 crops per validation video, as PySlowFast tests X3D-M."""
    monkeypatch.chdir(zoo_root)
    recipe = "recognition/kinetics400_x3d_m.yaml"
    train_recipe(recipe, ["data.sampler.clip_len=4"], tmp_path / "run", capsys)
    code = run_cli(
        "test", str(CONFIGS / recipe), *TINY_RUN, "data.sampler.clip_len=4", "--checkpoint", str(tmp_path / "run"),
        "--out", str(tmp_path / "test"), "--quiet",
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "test/metrics.json").read_text())
    assert report["views"] == 30 and report["num_videos"] == report["evaluated"] == 2
    assert report["classes"] == sorted(KINETICS_CLASSES)
