"""``vidstruct train`` on ``task: localization`` configs: relation stages, windowed formats, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from lockit import CLASSES, bmn_config, write_synthetic_store

from vidstruct.cli.main import main
from vidstruct.data.features import FeatureStore
from vidstruct.models.localization.checkpoint import load_localizer
from vidstruct.pipeline.localization_chain import localize_features

RELATION = {"enabled": True, "top_k": 8, "dim": 16, "layers": 1, "heads": 2}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return write_synthetic_store(tmp_path_factory.mktemp("loc_cli"), num_train=8, num_val=4)


def run_train(cfg: dict, run: Path, *overrides: str) -> int:
    path = run.parent / f"{run.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return main(["train", str(path), *overrides, "--out", str(run), "--json", "--quiet"])


def test_second_stage_trains_only_the_relation_head(store: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    cfg = bmn_config(store, **{"train.max_steps": 3})
    cfg["model"]["relation"] = {**RELATION, "stage": "second", "steps": 2}
    assert run_train(cfg, tmp_path / "run") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2 and {"AR@100", "AUC", "mAP@0.5", "average_mAP"} <= set(summary["metrics"])
    stage1 = torch.load(tmp_path / "run/stage1/final.pt", weights_only=True)["model"]
    raw = torch.load(tmp_path / "run/localizer.pt", weights_only=True)
    assert raw["relation"] is not None and raw["relation"]["top_k"] == 8
    assert set(raw["state_dict"]) == set(stage1)
    for key, value in stage1.items():  # BMN frozen during the second stage
        assert torch.equal(raw["state_dict"][key], value), key
    bundle = load_localizer(tmp_path / "run")
    assert bundle.model.relation is not None


def test_joint_relation_and_weak_runs_write_localizers(
    store: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.set_num_threads(1)
    cfg = bmn_config(store, **{"train.max_steps": 2})
    cfg["model"]["relation"] = {**RELATION, "stage": "joint"}
    assert run_train(cfg, tmp_path / "joint") == 0
    assert load_localizer(tmp_path / "joint").relation["top_k"] == 8
    cfg["model"] = {"name": "weak_cas", "hidden_dim": 8}
    assert run_train(cfg, tmp_path / "weak", "postprocess.fusion=cas") == 0
    assert load_localizer(tmp_path / "weak").kind == "weak_cas"


def test_windowed_thumos_format_trains_and_localizes_long_videos(
    store: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.set_num_threads(1)
    db = json.loads(Path(store["annotations"]).read_text())["database"]
    ann = tmp_path / "thumos"
    ann.mkdir()
    for split, subset in (("val", "training"), ("test", "validation")):  # THUMOS trains on val, tests on test
        for c in CLASSES:
            rows = [f"{v} {a['segment'][0]} {a['segment'][1]}" for v, e in db.items() if e["subset"] == subset
                    for a in e["annotations"] if a["label"] == c]  # fmt: skip
            (ann / f"{c}_{split}.txt").write_text("\n".join(rows) + "\n")
    cfg = bmn_config(store, **{"train.max_steps": 2})
    cfg["data"].update(format="thumos14", temporal_scale=16, window_stride=8)
    cfg["data"]["train"] = {"annotations": str(ann), "subset": "val"}
    cfg["data"]["val"] = {"annotations": str(ann), "subset": "test"}
    cfg["model"]["max_duration"] = 8
    cfg["eval"]["protocol"] = "thumos"
    assert run_train(cfg, tmp_path / "thumos_run") == 0
    bundle = load_localizer(tmp_path / "thumos_run")
    assert bundle.features["mode"] == "window" and bundle.features["window_stride"] == 8
    vf = FeatureStore(store["features"]).load("v010")
    segs = localize_features(bundle, vf)
    assert segs and all(0.0 <= s.start_s < s.end_s <= 20.0 and s.label in CLASSES for s in segs)
    assert max(s.end_s for s in segs) > 8.0  # windows beyond the first one contribute


def test_config_errors_exit_2_with_one_line(store: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = bmn_config(store)
    cfg["model"]["relation"] = {"enable": True}
    assert run_train(cfg, tmp_path / "bad") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "model.relation.enable" in err and len(err.splitlines()) == 1
    cfg = bmn_config(store)
    cfg["data"]["features"] = str(tmp_path / "no_such_dir")
    assert run_train(cfg, tmp_path / "bad2") == 2
    assert "no_such_dir" in capsys.readouterr().err
    cfg = bmn_config(store)
    cfg["model"]["feat_dim"] = 32
    assert run_train(cfg, tmp_path / "bad3") == 2
    assert "model.feat_dim" in capsys.readouterr().err
