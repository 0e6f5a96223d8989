"""``vidstruct classify-videos`` on a hand-made feature store, read back by ``vidstruct eval anet-classification``
with mAP and hit@1 computed by hand; one-line errors for stores it cannot classify."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidstruct.cli.main import main
from vidstruct.data.features import new_manifest, save_array_atomic, write_manifest

# per-snippet softmax probabilities over the backbone's classes a, b, c
SNIPPETS = {
    "v1": [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]],  # mean 0.4, 0.5, 0.1 -> top b
    "v2": [[0.1, 0.1, 0.8]],  # c
    "v3": [[0.5, 0.4, 0.1], [0.7, 0.2, 0.1]],  # mean 0.6, 0.3, 0.1 -> top a
}
SHA = "ab" * 32


def _store(root: Path, with_probs: bool = True, classes: list[str] | None = None) -> Path:
    classes = ["a", "b", "c"] if classes is None else classes
    manifest = new_manifest(
        checkpoint=root / "backbone.pt", sha256=SHA, model="r2plus1d_tiny", config_hash="0" * 16,
        window_s=1.0, stride_s=1.0, feature_dim=2, classes=classes if with_probs else None,
    )  # fmt: skip
    for vid, probs in SNIPPETS.items():
        n = len(probs)
        save_array_atomic(root / f"{vid}.npy", np.zeros((n, 2)))
        if with_probs:
            save_array_atomic(root / f"{vid}.probs.npy", np.asarray(probs))
        manifest["videos"][vid] = {
            "features": f"{vid}.npy", "probs": f"{vid}.probs.npy" if with_probs else None,
            "num_snippets": n, "duration_s": float(n), "video_fps": 10.0,
        }  # fmt: skip
    write_manifest(root, manifest)
    return root


def _gt(path: Path) -> Path:
    ann = {"v1": "a", "v2": "c", "v3": "b", "v4": "a"}  # v4 has no features
    database = {
        v: {"subset": "validation", "duration": 2.0, "annotations": [{"segment": [0.0, 1.0], "label": c}]}
        for v, c in ann.items()
    }
    database["t1"] = {"subset": "testing", "duration": 2.0, "annotations": []}
    path.write_text(json.dumps({"version": "VERSION 1.3", "database": database}))
    return path


def test_submission_is_scored_as_computed_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path / "feats")
    gt = _gt(tmp_path / "gt.json")
    pred = tmp_path / "pred.json"
    args = ["classify-videos", "--features", str(store), "--out", str(pred), "--labels", str(gt)]
    assert main([*args, "--subset", "validation", "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"out": str(pred), "videos": 3, "missing": ["v4"], "labels": 3}
    doc = json.loads(pred.read_text())
    assert doc["version"] == "VERSION 1.3" and doc["external_data"]["used"] is False
    assert doc["backbone"] == {"checkpoint": str((tmp_path / "feats/backbone.pt").resolve()), "sha256": SHA,
                               "model": "r2plus1d_tiny"}  # fmt: skip
    assert SHA in doc["external_data"]["details"] and doc["pooling"] == {"pool": "mean", "top_k": None}
    # the ground truth's classes, best first: v1 mean (a 0.4, b 0.5, c 0.1)
    assert [e["label"] for e in doc["results"]["v1"]] == ["b", "a", "c"]
    np.testing.assert_allclose([e["score"] for e in doc["results"]["v1"]], [0.5, 0.4, 0.1])
    assert set(doc["results"]) == {"v1", "v2", "v3"}

    assert main(["eval", "anet-classification", str(gt), str(pred), "--top-k", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    # hit@1 over the 4 annotated videos: v1 top b (truth a) miss, v2 c hit, v3 a (truth b) miss, v4 no prediction
    assert metrics["hit_at_k"] == pytest.approx(1 / 4)
    # AP, every video listing every class:
    #   a (npos 2: v1, v4): v3 0.6 FP, v1 0.4 TP (precision 1/2, recall 1/2), v2 0.1 FP -> 1/2 * 1/2 = 0.25
    #   b (npos 1: v3): v1 0.5 FP, v3 0.3 TP (precision 1/2, recall 1), v2 0.1 FP -> 0.5
    #   c (npos 1: v2): v2 0.8 TP first -> 1.0
    assert metrics["per_class_AP"] == pytest.approx({"a": 0.25, "b": 0.5, "c": 1.0})
    assert metrics["mAP"] == pytest.approx(1.75 / 3)


def test_max_pooling_and_max_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path / "feats")
    pred = tmp_path / "pred.json"
    args = ["classify-videos", "--features", str(store), "--out", str(pred), "--pool", "max", "--max-labels", "2"]
    assert main([*args, "-q"]) == 0
    assert "3 videos, 2 labels each (max pooling)" in capsys.readouterr().out
    doc = json.loads(pred.read_text())
    # v3 max (0.7, 0.4, 0.1) / 1.2; every backbone class without --labels, cut to 2
    assert [e["label"] for e in doc["results"]["v3"]] == ["a", "b"]
    np.testing.assert_allclose([e["score"] for e in doc["results"]["v3"]], [0.7 / 1.2, 0.4 / 1.2])
    assert doc["pooling"] == {"pool": "max", "top_k": None}


def test_top_k_mean_is_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path / "feats")
    pred = tmp_path / "pred.json"
    assert main(["classify-videos", "--features", str(store), "--out", str(pred), "--pool", "top-k-mean",
                 "--top-k", "1", "-q"]) == 0  # fmt: skip
    doc = json.loads(pred.read_text())
    assert doc["pooling"] == {"pool": "top-k-mean", "top_k": 1}
    # k = 1 is max: v1 (0.6, 0.7, 0.1) / 1.4
    np.testing.assert_allclose([e["score"] for e in doc["results"]["v1"]], [0.5, 0.6 / 1.4, 0.1 / 1.4])


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err


def test_store_without_probabilities_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path / "feats", with_probs=False)
    err = _one_line_error(capsys, ["classify-videos", "--features", str(store), "--out", str(tmp_path / "p.json")])
    assert f"{store / 'manifest.json'}: the features have no class probabilities" in err
    assert "extract them with a classification checkpoint" in err
    assert not (tmp_path / "p.json").exists()


def test_classes_the_backbone_lacks_and_subset_without_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(tmp_path / "feats", classes=["a", "b", "x"])
    gt = _gt(tmp_path / "gt.json")
    out = str(tmp_path / "p.json")
    err = _one_line_error(capsys, ["classify-videos", "--features", str(store), "--out", out, "--labels", str(gt)])
    assert "classes ['c'] of the labels are not classes of the backbone (3 classes)" in err
    err = _one_line_error(capsys, ["classify-videos", "--features", str(store), "--out", out, "--subset", "testing"])
    assert "--subset needs --labels GT.json" in err
    err = _one_line_error(capsys, ["classify-videos", "--features", str(tmp_path / "nowhere"), "--out", out])
    assert "nowhere" in err
