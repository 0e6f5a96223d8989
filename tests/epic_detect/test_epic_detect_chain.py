"""The whole EPIC detection chain on 8 synthetic videos: backbone -> extract-features -> BMN + relation proposals
trained on the EPIC CSV -> detect-epic -> a C2 submission that the loader validates and eval epic-detection scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidstruct.cli.main import main
from vidstruct.data.features import FeatureStore
from vidstruct.eval.epic import load_detection_submission
from vidstruct.pipeline.epic_detection import EpicDetector, proposal_entries, snippet_verb_noun_probs
from vidstruct.pipeline.localization_chain import localize_video

pytestmark = pytest.mark.xdist_group(name="epic_detect")


def test_chain_writes_a_valid_submission_that_evaluates(epic_chain, capsys) -> None:
    doc = json.loads(epic_chain.submission.read_text())
    assert (doc["version"], doc["challenge"], doc["sls_pt"], doc["sls_tl"], doc["sls_td"]) == (
        "0.2", "action_detection", 0, 2, 0,
    )  # fmt: skip
    assert list(doc["results"]) == ["P01_04", "P02_04"]  # the held-out videos, in CSV order
    sub = load_detection_submission(epic_chain.submission, num_verbs=6, num_nouns=5)
    assert sub.scores.size > 0 and np.all((sub.scores >= 0) & (sub.scores <= 1))
    assert np.all(sub.segments[:, 0] <= sub.segments[:, 1]) and sub.segments.min() >= 0
    assert np.array_equal(sub.verb, sub.action_verb) and np.array_equal(sub.noun, sub.action_noun)
    for entries in doc["results"].values():  # best first; 5 verbs x 5 nouns per proposal
        scores = [e["score"] for e in entries]
        assert scores == sorted(scores, reverse=True) and len(entries) % 25 == 0
    capsys.readouterr()
    val = str(epic_chain.data / "EPIC_100_validation.csv")
    assert main(["eval", "epic-detection", val, str(epic_chain.submission), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for task in ("verb", "noun", "action"):
        assert len(result[task]["mAP"]) == 5
        assert result[task]["average_mAP"] == pytest.approx(np.mean(result[task]["mAP"]))
        assert 0 < result[task]["average_mAP"] <= 1
    print({t: round(result[t]["average_mAP"], 4) for t in ("verb", "noun", "action")})


def test_entries_are_the_proposals_times_the_heads(epic_chain) -> None:
    """The submission of a video equals the chain recomputed by hand from its parts."""
    det = EpicDetector.from_checkpoint(epic_chain.localizer)
    assert (det.num_verbs, det.num_nouns) == (6, 5)
    feats = FeatureStore(epic_chain.features).load("P01_04")
    proposals = localize_video(det.bundle, feats).proposals
    verb, noun = snippet_verb_noun_probs(det.backbone, feats.features)
    with torch.no_grad():  # the heads on the stored features = the backbone's own verb / noun softmax
        logits = det.backbone.head(torch.from_numpy(feats.features))
    assert verb == pytest.approx(torch.softmax(logits["verb"], -1).numpy(), abs=1e-6)
    expected = proposal_entries(proposals, verb, noun, feats.centers_s)
    written = json.loads(epic_chain.submission.read_text())["results"]["P01_04"]
    assert written == expected  # floats survive the JSON round trip exactly
    assert len(expected) == 25 * len(proposals) > 0
    assert expected[0]["score"] <= proposals[:, 2].max()  # p(verb) x p(noun) <= 1


def test_detect_epic_usage_errors_are_one_line(epic_chain, tmp_path, capsys) -> None:
    bad = tmp_path / "no_ids.csv"
    bad.write_text("narration_id,start_timestamp\nx,00:00:01.00\n")
    args = ["detect-epic", "--checkpoint", str(epic_chain.localizer), "--features", str(epic_chain.features),
            "--out", str(tmp_path / "s.json")]  # fmt: skip
    assert main([*args, "--labels", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_ids.csv" in err and "video_id" in err
    ids = tmp_path / "unknown.csv"
    ids.write_text("video_id\nP09_01\n")
    assert main([*args, "--labels", str(ids)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "P09_01" in err
    assert not (tmp_path / "s.json").exists()
