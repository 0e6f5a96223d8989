"""EPIC-100 recognition recipe: config errors, weighted verb/noun loss, train → test (C1 files) → predict."""

from __future__ import annotations

import csv
import json
import math
import pickle
import zipfile

import numpy as np
import pytest
import torch
from epic_cfg import epic_config

from vidstruct.cli.main import main
from vidstruct.engine.losses import multi_head_loss_fn
from vidstruct.recipes.epic import submission

pytestmark = pytest.mark.xdist_group(name="epic_train")


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_config_errors_are_one_line(epic_set, tmp_path, capsys) -> None:
    cfg = epic_config(epic_set.out_dir, tmp_path / "exp.yaml")
    run = str(tmp_path / "run")
    assert main(["train", str(cfg), "model.head.loss_weight.verb=2", "--run-dir", run]) == 2
    assert "unknown key 'model.head.loss_weight'" in _err(capsys)  # with a did-you-mean hint
    assert main(["train", str(cfg), "model.head.loss_weights.action=2", "--run-dir", run]) == 2
    err = _err(capsys)
    assert "unknown key 'model.head.loss_weights.action'" in err and "verb" in err and "noun" in err
    assert main(["train", str(cfg), "model.head.name=epic", "--run-dir", run]) == 2
    assert "model.head.name" in _err(capsys)
    assert main(["train", str(cfg), "model.head.name=linear", "--run-dir", run]) == 2
    assert "model.head.dropout: only used by model.head.name epic_verb_noun" in _err(capsys)
    assert main(["train", str(cfg), "data.verb_classes=null", "--run-dir", run]) == 2
    assert "data.verb_classes: required by model.head.name epic_verb_noun" in _err(capsys)
    assert main(["train", str(cfg), "model.widht=[8, 8, 8, 8]", "--run-dir", run]) == 2
    err = _err(capsys)  # the backbone's arguments are checked against the backbone's builder
    assert "unknown key 'model.widht'" in err and "widths" in err


def test_loss_is_the_weighted_sum_of_verb_and_noun_cross_entropy() -> None:
    class Fixed(torch.nn.Module):
        def forward(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"verb": torch.tensor([[0.0, math.log(3.0)]]), "noun": torch.tensor([[0.0, 0.0, 0.0, 0.0]])}

    batch = {"clip": torch.zeros(1, 3, 1, 2, 2), "labels": {"verb": torch.tensor([0]), "noun": torch.tensor([2])}}
    loss = multi_head_loss_fn({"verb": 2.0, "noun": 0.5})(Fixed(), batch, torch.device("cpu"))
    # by hand: p(verb 0) = 1 / (1 + 3) → CE = ln 4; four equal noun logits → CE = ln 4
    assert loss.item() == pytest.approx(2.0 * math.log(4) + 0.5 * math.log(4), rel=1e-6)
    assert multi_head_loss_fn({"verb": 1.0, "noun": 1.0})(Fixed(), {"num_samples": 0}, torch.device("cpu")) == 0


def test_submission_scores_actions_by_the_verb_noun_product() -> None:
    verb = np.array([[0.7, 0.3]])
    noun = np.array([[0.1, 0.5, 0.4]])
    doc = submission(verb, noun, ["P01_01_0"], sls=(0, 3, 3), top_actions=3)
    assert {k: doc[k] for k in ("version", "challenge", "sls_pt", "sls_tl", "sls_td")} == {
        "version": "0.2", "challenge": "action_recognition", "sls_pt": 0, "sls_tl": 3, "sls_td": 3,
    }  # fmt: skip
    entry = doc["results"]["P01_01_0"]
    # verb / noun scores are log-probabilities (the official tools softmax them: softmax(log p) = p)
    assert entry["verb"] == pytest.approx({"0": math.log(0.7), "1": math.log(0.3)}, rel=1e-6)
    assert entry["noun"] == pytest.approx({"0": math.log(0.1), "1": math.log(0.5), "2": math.log(0.4)}, rel=1e-6)
    # by hand: 0.7*0.5 = .35, 0.7*0.4 = .28, 0.3*0.5 = .15 (then 0.3*0.4 = .12, 0.7*0.1 = .07 drop out)
    assert entry["action"] == pytest.approx({"0,1": 0.35, "0,2": 0.28, "1,1": 0.15})


def test_train_test_predict_end_to_end(epic_set, tmp_path, capsys) -> None:
    cfg = epic_config(epic_set.out_dir, tmp_path / "exp.yaml", max_steps=3)
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--run-dir", str(run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 3

    out = tmp_path / "test"
    assert main(["test", str(cfg), "--checkpoint", str(run), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with open(epic_set.annotation_files["val"], newline="") as f:
        val = list(csv.DictReader(f))
    assert report["evaluated"] == report["num_videos"] == len(val)
    assert set(report["metrics"]) == {f"{h}_top{k}" for h in ("verb", "noun", "action") for k in (1, 5)}
    assert report["heads"]["noun"] == ["plate", "knife", "cup", "sponge", "pan"]
    # the C1 results file: one entry per segment, in annotation order, probabilities of 6 verbs and 5 nouns
    with open(out / "results.pkl", "rb") as f:
        results = pickle.load(f)
    assert [r["narration_id"] for r in results] == [r["narration_id"] for r in val]
    assert results[0]["verb_output"].dtype == np.float32
    verb = np.exp(np.stack([r["verb_output"] for r in results]))  # log-probabilities → probabilities
    noun = np.exp(np.stack([r["noun_output"] for r in results]))
    assert verb.shape == (len(val), 6) and noun.shape == (len(val), 5)
    assert np.allclose(verb.sum(1), 1, atol=1e-5) and np.allclose(noun.sum(1), 1, atol=1e-5)
    # top-1 accuracies recomputed from the results file equal the printed metrics
    targets = np.array([[int(r["verb_class"]), int(r["noun_class"])] for r in val])
    v_ok, n_ok = verb.argmax(1) == targets[:, 0], noun.argmax(1) == targets[:, 1]
    assert report["metrics"]["verb_top1"] == pytest.approx(v_ok.mean())
    assert report["metrics"]["noun_top1"] == pytest.approx(n_ok.mean())
    assert report["metrics"]["action_top1"] == pytest.approx((v_ok & n_ok).mean())
    # the project's C1 evaluator (equal to the official evaluate.py) reads the results file to the same numbers
    from vidstruct.eval.epic import evaluate_epic_recognition, load_epic_labels, load_recognition_results

    official = evaluate_epic_recognition(
        load_epic_labels(epic_set.annotation_files["val"], num_verbs=6, num_nouns=5),
        load_recognition_results(out / "results.pkl"),
        tail_verbs=[4, 5],
        tail_nouns=[3, 4],
        unseen_participants=["P05", "P10"],
    )
    for task in ("verb", "noun", "action"):
        for k in (1, 5):
            assert official[f"all_{task}_accuracy_at_{k}"] == pytest.approx(100 * report["metrics"][f"{task}_top{k}"])
    unseen = np.array([r["participant_id"] in ("P05", "P10") for r in val])
    assert official["num_unseen_segments"] == unseen.sum() > 0
    assert official["unseen_noun_accuracy_at_1"] == pytest.approx(100 * n_ok[unseen].mean())
    doc = json.loads(zipfile.ZipFile(out / "submission.zip").read("test.json"))
    assert doc == json.loads((out / "submission.json").read_text()) and len(doc["results"]) == len(val)
    assert doc["sls_pt"] == 0 and len(doc["results"][val[0]["narration_id"]]["action"]) == 30  # 6 x 5 < 100

    # predict on one trimmed segment: verb, noun and action probabilities with names
    from vidstruct.io.writer import write_video
    from vidstruct.pipeline.recognizer import Recognizer

    segment = tmp_path / "segment.mp4"
    with __import__("av").open(str(epic_set.videos[0])) as c:
        frames = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)][17:46]
    write_video(segment, frames, 15)
    assert main(["predict", str(segment), "--checkpoint", str(run), "--top-k", "0", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["checkpoint"] == str(run) and [r["label"] for r in pred["verb"]][0] in report["heads"]["verb"]
    assert sum(r["prob"] for r in pred["verb"]) == pytest.approx(1, abs=1e-5)
    assert len(pred["action"]) == 30 and sum(r["prob"] for r in pred["action"]) == pytest.approx(1, abs=1e-5)
    p_verb = {r["label"]: r["prob"] for r in pred["verb"]}
    p_noun = {r["label"]: r["prob"] for r in pred["noun"]}
    for row in pred["action"][:5]:
        assert row["prob"] == pytest.approx(p_verb[row["verb"]] * p_noun[row["noun"]], rel=1e-5)
    rec = Recognizer.from_checkpoint(run, device="cpu")
    assert rec.heads is not None and rec.heads["verb"][0] == "move-left"
