"""The untrimmed classification chain on synthetic videos: ``synth --task localize`` -> ``extract-features``
(a tiny backbone with random weights and the synthetic classes) -> ``classify-videos`` ->
``eval anet-classification``. Structure, not accuracy: random weights learn nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vidstruct.cli.main import main
from vidstruct.data.features import FeatureStore
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint


def test_synthetic_videos_to_classification_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "synth"
    assert main(["synth", "--task", "localize", "--out", str(data), "--num-videos", "4", "--size", "32",
                 "--duration", "3", "--fps", "8", "--json", "-q"]) == 0  # fmt: skip
    synth = json.loads(capsys.readouterr().out)
    classes = synth["classes"]
    gt = data / "annotations.json"
    database = json.loads(gt.read_text())["database"]
    torch.manual_seed(0)
    backbone = MODELS.build("r2plus1d_tiny", widths=[8, 8, 16, 16], num_classes=len(classes))
    ckpt = tmp_path / "backbone.pt"
    save_model_checkpoint(ckpt, backbone, model_name="r2plus1d_tiny", model_kwargs={"widths": [8, 8, 16, 16]},
                          classes=classes)  # fmt: skip
    feats = tmp_path / "feats"
    assert main(["extract-features", "--checkpoint", str(ckpt), "--videos", str(gt), "--out", str(feats),
                 "--window-s", "1", "--stride-s", "0.5", "--device", "cpu", "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    pred = tmp_path / "pred.json"
    assert main(["classify-videos", "--features", str(feats), "--out", str(pred), "--labels", str(gt),
                 "--pool", "top-k-mean", "--top-k", "2", "--json", "-q"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    gt_classes = list(dict.fromkeys(a["label"] for v in database.values() for a in v["annotations"]))
    assert report["videos"] == 4 and report["missing"] == [] and report["labels"] == len(gt_classes)

    doc = json.loads(pred.read_text())
    assert set(doc["results"]) == set(database)
    store = FeatureStore(feats)
    assert doc["backbone"]["sha256"] == store.meta["backbone"]["sha256"] and doc["backbone"]["model"] == "r2plus1d_tiny"
    cols = [classes.index(c) for c in gt_classes]
    for vid, entries in doc["results"].items():
        scores = [e["score"] for e in entries]
        assert sorted(e["label"] for e in entries) == sorted(gt_classes)
        assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0)
        # top-2-mean per class over the video's snippets, restricted to the ground truth's classes, renormalized
        p = store.load(vid).probs[:, cols].astype(np.float64)
        pooled = np.sort(p, axis=0)[-2:].mean(axis=0)
        expected = dict(zip(gt_classes, pooled / pooled.sum(), strict=True))
        assert {e["label"]: e["score"] for e in entries} == pytest.approx(expected)

    subsets = sorted({v["subset"] for v in database.values()})
    for subset in subsets:
        assert main(["eval", "anet-classification", str(gt), str(pred), "--subset", subset, "--top-k", "1",
                     "--json"]) == 0  # fmt: skip
        metrics = json.loads(capsys.readouterr().out)
        n = sum(1 for v in database.values() if v["subset"] == subset and v["annotations"])
        assert metrics["num_videos"] == n and metrics["num_videos_without_predictions"] == 0
        assert 0.0 <= metrics["mAP"] <= 1.0 and metrics["hit_at_k"] in {i / n for i in range(n + 1)}
