"""Learning test: BMN and the weak model trained with ``vidstruct train`` on deterministic synthetic features.

The features (``lockit``) carry the action class and boundary markers under noise. Thresholds are set
between what trained models reach and what broken ones do, and the broken ones are run here too: an
untrained BMN (random weights) and a BMN trained on random labels (every segment moved to a random place).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import yaml
from lockit import bmn_config, write_synthetic_store

from vidstruct.cli.main import main
from vidstruct.config import ComposedConfig, LocalizationExperimentConfig, validate
from vidstruct.engine.localization.evaluate import evaluate_localizer
from vidstruct.eval.temporal import protocol_thresholds
from vidstruct.models.localization.checkpoint import load_localizer
from vidstruct.models.localization.spec import class_map
from vidstruct.recipes.localization import build_localizer, localization_data, postprocess_settings

MIN_AR100, MIN_AUC, MIN_AVG_MAP = 0.85, 75.0, 0.5


def passes(m: dict[str, float]) -> bool:
    return m["AR@100"] >= MIN_AR100 and m["AUC"] >= MIN_AUC and m["average_mAP"] >= MIN_AVG_MAP


def train_cli(cfg: dict, run: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    path = run.parent / f"{run.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--out", str(run), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return write_synthetic_store(tmp_path_factory.mktemp("loc_learning"))


def test_bmn_learns_and_broken_models_fail(store: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    cfg = bmn_config(store, **{"train.max_steps": 80})
    summary = train_cli(cfg, tmp_path / "bmn", capsys)
    trained = summary["metrics"]
    assert summary["model"].endswith("localizer.pt") and passes(trained), trained
    assert trained["mAP@0.5"] >= 0.8, trained

    typed = validate(LocalizationExperimentConfig, ComposedConfig(cfg))
    data = localization_data(typed)
    post = postprocess_settings(typed)
    cmap = class_map(data.classes, data.store.classes, post.fusion)
    tiou = protocol_thresholds("anet")
    bundle = load_localizer(tmp_path / "bmn")  # the saved checkpoint reproduces the training-end metrics
    again = evaluate_localizer(
        bundle.model, "bmn", data.val, classes=data.classes, post=post, tiou=tiou, class_map=cmap
    )
    assert again == pytest.approx(trained)

    torch.manual_seed(0)
    untrained, _ = build_localizer(typed, data.store.feature_dim, len(data.classes))
    broken = evaluate_localizer(untrained, "bmn", data.val, classes=data.classes, post=post, tiou=tiou, class_map=cmap)
    assert not passes(broken) and broken["average_mAP"] < MIN_AVG_MAP / 2, broken

    # random labels: every training segment moved to a random place (same count, lengths and classes)
    ann = json.loads(Path(store["annotations"]).read_text())
    rng = random.Random(0)
    for entry in ann["database"].values():
        if entry["subset"] == "training":
            for a in entry["annotations"]:
                length = a["segment"][1] - a["segment"][0]
                start = rng.uniform(0.0, entry["duration"] - length)
                a["segment"] = [start, start + length]
    shuffled = tmp_path / "random_labels.json"
    shuffled.write_text(json.dumps(ann))
    cfg["data"]["train"]["annotations"] = str(shuffled)
    bad = train_cli(cfg, tmp_path / "random_labels", capsys)["metrics"]
    assert not passes(bad) and bad["average_mAP"] < MIN_AVG_MAP / 2, bad


def test_weak_model_learns_classes_from_video_labels(
    store: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    cfg = bmn_config(store, **{"train.max_steps": 150})
    cfg["model"] = {"name": "weak_cas", "hidden_dim": 32, "dropout": 0.3, "topk_ratio": 8}
    cfg["postprocess"] = {"fusion": "cas"}
    metrics = train_cli(cfg, tmp_path / "weak", capsys)["metrics"]
    assert metrics["mAP@0.5"] >= 0.5 and metrics["average_mAP"] >= 0.25, metrics
    typed = validate(LocalizationExperimentConfig, ComposedConfig(cfg))
    data = localization_data(typed)
    torch.manual_seed(0)
    untrained, _ = build_localizer(typed, data.store.feature_dim, len(data.classes))
    post = postprocess_settings(typed)
    broken = evaluate_localizer(
        untrained, "weak_cas", data.val, classes=data.classes, post=post, tiou=protocol_thresholds("anet")
    )
    assert broken["mAP@0.5"] < 0.25 and broken["average_mAP"] < 0.125, broken
