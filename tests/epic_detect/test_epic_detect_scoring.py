"""Proposal -> (verb, noun, action) scoring on hand-made snippet probabilities, and the submission it makes
validated by the C2 loader and evaluated (every expected number computed by hand in the comments)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidstruct.errors import CheckpointError, InputError
from vidstruct.eval.epic import evaluate_epic_detection, load_detection_submission, load_epic_labels
from vidstruct.eval.epic.detection import write_detection_submission
from vidstruct.models import MODELS
from vidstruct.pipeline.epic_detection import proposal_entries, proposal_probs, snippet_verb_noun_probs

CENTERS = np.arange(8) + 0.5  # snippets centred at 0.5, 1.5, ..., 7.5 s
VERB = np.full((8, 2), 0.5)
NOUN = np.full((8, 2), 0.5)
VERB[1:3] = [[0.8, 0.2], [0.6, 0.4]]  # inside [1, 3]: mean (0.7, 0.3)
NOUN[1:3] = [[0.1, 0.9], [0.3, 0.7]]  # mean (0.2, 0.8)
VERB[5:7] = [[0.9, 0.1], [0.7, 0.3]]  # inside [5, 7]: mean (0.8, 0.2): the wrong verb wins
NOUN[5:7] = [[0.6, 0.4], [1.0, 0.0]]  # mean (0.8, 0.2)
PROPOSALS = [(1.0, 3.0, 0.9), (5.0, 7.0, 0.5)]


def test_proposal_probs_average_inside_and_nearest_snippet_otherwise() -> None:
    assert proposal_probs(VERB, CENTERS, 1.0, 3.0) == pytest.approx([0.7, 0.3])
    assert proposal_probs(VERB, CENTERS, 1.5, 1.5) == pytest.approx([0.8, 0.2])  # a centre on the boundary counts
    # no centre inside [2.6, 2.9]: the snippet nearest the midpoint 2.75 (centre 2.5)
    assert proposal_probs(VERB, CENTERS, 2.6, 2.9) == pytest.approx([0.6, 0.4])


def test_entries_by_hand() -> None:
    entries = proposal_entries(PROPOSALS, VERB, NOUN, CENTERS, top_verbs=2, top_nouns=1)
    # A: 0.9 x p(v) x p(noun 1 = 0.8): (0, 1) 0.504, (1, 1) 0.216; B: 0.5 x p(v) x p(noun 0 = 0.8): (0, 0) 0.32,
    # (1, 0) 0.08; listed best first
    got = [(e["verb"], e["noun"], e["action"], e["segment"]) for e in entries]
    assert got == [
        (0, 1, "0,1", [1.0, 3.0]),
        (0, 0, "0,0", [5.0, 7.0]),
        (1, 1, "1,1", [1.0, 3.0]),
        (1, 0, "1,0", [5.0, 7.0]),
    ]
    assert [e["score"] for e in entries] == pytest.approx([0.504, 0.32, 0.216, 0.08])
    assert len(proposal_entries(PROPOSALS, VERB, NOUN, CENTERS)) == 2 * 2 * 2  # top 5 x 5 capped at 2 x 2
    assert proposal_entries(np.zeros((0, 3)), VERB, NOUN, CENTERS) == []
    with pytest.raises(InputError, match="top_verbs"):
        proposal_entries(PROPOSALS, VERB, NOUN, CENTERS, top_verbs=0)


def test_submission_validates_and_evaluates(tmp_path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "narration_id,participant_id,video_id,start_timestamp,stop_timestamp,verb_class,noun_class\n"
        "P01_01_0,P01,P01_01,00:00:01.00,00:00:03.00,0,1\n"
        "P01_01_1,P01,P01_01,00:00:05.00,00:00:07.00,1,0\n"
    )
    entries = proposal_entries(PROPOSALS, VERB, NOUN, CENTERS, top_verbs=2, top_nouns=1)
    path = write_detection_submission(tmp_path / "sub.json", {"P01_01": entries}, sls=(0, 1, 2))
    sub = load_detection_submission(path, num_verbs=2, num_nouns=2)
    assert sub.scores.tolist() == pytest.approx([0.504, 0.32, 0.216, 0.08]) and sub.sls["sls_td"] == 2
    result = evaluate_epic_detection(load_epic_labels(labels, num_verbs=2, num_nouns=2), sub, num_nouns=2)
    # verb 0: A 0.504 TP, B 0.32 FP -> AP 1; verb 1: A 0.216 FP, B 0.08 TP -> precision 1/2 -> AP 0.5; mean 0.75
    # noun 1: A 0.504 TP (A 0.216 a duplicate after it) -> 1; noun 0: B 0.32 TP -> 1
    # action "0,1": A 0.504 TP -> 1; "1,0": B 0.08 TP -> 1 ("0,0", "1,1" have no ground truth: not evaluated)
    assert result["verb"]["mAP"] == pytest.approx([0.75] * 5) and result["verb"]["average_mAP"] == pytest.approx(0.75)
    assert result["noun"]["average_mAP"] == pytest.approx(1.0)
    assert result["action"]["average_mAP"] == pytest.approx(1.0)


def test_snippet_probs_equal_the_full_forward_pass() -> None:
    torch.manual_seed(0)
    model = MODELS.build(
        "epic_verb_noun", backbone="r2plus1d_tiny", backbone_kwargs={"widths": [4, 8, 8, 8]},
        verb_classes=["a", "b", "c"], noun_classes=["x", "y"], dropout=0.5,
    ).eval()  # fmt: skip
    clips = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(clips).numpy()
        out = model(clips)
    verb, noun = snippet_verb_noun_probs(model, feats)
    assert verb == pytest.approx(torch.softmax(out["verb"], -1).numpy(), abs=1e-6)
    assert noun == pytest.approx(torch.softmax(out["noun"], -1).numpy(), abs=1e-6)
    with pytest.raises(CheckpointError, match="not an EPIC"):
        snippet_verb_noun_probs(torch.nn.Linear(2, 2), feats)
