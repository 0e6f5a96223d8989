"""Golden tests of recognition metrics; every expected number is worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidstruct.errors import InputError, ShapeError
from vidstruct.eval.classification import (
    action_topk,
    classification_metrics,
    confusion_matrix,
    epic_action_metrics,
    format_report,
    mean_class_accuracy,
    per_class_report,
    plot_confusion_matrix,
    topk_accuracy,
    topk_correct,
)

# 5 samples, 6 classes.
TOPK_SCORES = np.array(
    [
        [0.10, 0.50, 0.20, 0.05, 0.10, 0.05],  # target 1: ranked 1st -> top1 yes, top5 yes
        [0.30, 0.10, 0.25, 0.20, 0.10, 0.05],  # target 2: ranking 0, 2, ... -> 2nd: top1 no, top5 yes
        [0.05, 0.05, 0.10, 0.10, 0.20, 0.50],  # target 0: ranking 5,4,2,3,0,1 (ties: lower index 1st) -> 5th
        [0.20, 0.20, 0.20, 0.20, 0.10, 0.10],  # target 3: ranking 0,1,2,3 -> 4th: top1 no, top5 yes
        [0.05, 0.05, 0.10, 0.10, 0.20, 0.50],  # target 1: same scores as row 2 -> class 1 is 6th: top5 no
    ]
)
TOPK_TARGETS = np.array([1, 2, 0, 3, 1])


def test_topk_accuracy_hand_computed():
    acc = topk_accuracy(TOPK_SCORES, TOPK_TARGETS, ks=(1, 5))
    assert acc[1] == pytest.approx(1 / 5)  # only row 0
    assert acc[5] == pytest.approx(4 / 5)  # all but row 4
    np.testing.assert_array_equal(topk_correct(TOPK_SCORES, TOPK_TARGETS, 5), [True, True, True, True, False])


def test_topk_ties_rank_lower_index_first_and_k_is_clamped():
    scores = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    # equal scores for classes 0 and 1: class 0 ranks first, so only the sample whose target is 0 is top-1 correct
    assert topk_accuracy(scores, torch.tensor([0, 1]), ks=(1,))[1] == 0.5
    # k = 5 > K = 3 is clamped to 3: every target is in the top-3
    assert topk_accuracy(scores, torch.tensor([2, 2]), ks=(5,))[5] == 1.0


# 6 samples, 4 classes. Predicted classes (top-1 of one-hot-ish scores) and targets:
#   targets     0 0 0 1 1 3
#   predictions 0 0 1 1 0 2
MCA_TARGETS = np.array([0, 0, 0, 1, 1, 3])
MCA_PREDS = np.array([0, 0, 1, 1, 0, 2])
MCA_SCORES = np.eye(4)[MCA_PREDS] * 0.7 + 0.075  # rows sum to 1, argmax = prediction


def test_mean_class_accuracy_ignores_absent_classes():
    # class 0: 2/3 correct, class 1: 1/2, class 2: absent from targets -> ignored, class 3: 0/1
    # mean = (2/3 + 1/2 + 0) / 3 = 7/18
    assert mean_class_accuracy(MCA_SCORES, MCA_TARGETS) == pytest.approx(7 / 18)
    metrics = classification_metrics(MCA_SCORES, MCA_TARGETS)
    assert metrics["top1"] == pytest.approx(3 / 6)
    assert metrics["top5"] == 1.0  # K = 4 < 5
    assert metrics["mean_class_accuracy"] == pytest.approx(7 / 18)


def test_confusion_matrix_rows_true_columns_predicted():
    expected = np.array(
        [
            [2, 1, 0, 0],  # true 0: predicted 0, 0, 1
            [1, 1, 0, 0],  # true 1: predicted 1, 0
            [0, 0, 0, 0],  # true 2: none
            [0, 0, 1, 0],  # true 3: predicted 2
        ]
    )
    np.testing.assert_array_equal(confusion_matrix(MCA_PREDS, MCA_TARGETS, 4), expected)
    np.testing.assert_array_equal(confusion_matrix(MCA_SCORES, MCA_TARGETS, 4), expected)  # from scores: top-1


def test_per_class_report():
    rows = per_class_report(MCA_SCORES, MCA_TARGETS, ["a", "b", "c", "d"])
    by_name = {r["name"]: r for r in rows}
    # class a: support 3, correct 2, predicted 3 times (samples 0, 1, 4) -> recall 2/3, precision 2/3
    expected_a = {"name": "a", "support": 3, "correct": 2, "predicted": 3, "recall": 2 / 3, "precision": 2 / 3}
    assert by_name["a"] == expected_a
    # class b: support 2, correct 1, predicted twice (samples 2, 3) -> 1/2, 1/2
    assert (by_name["b"]["recall"], by_name["b"]["precision"]) == (0.5, 0.5)
    # class c: absent from targets -> recall None; predicted once, wrongly -> precision 0
    assert (by_name["c"]["recall"], by_name["c"]["precision"]) == (None, 0.0)
    # class d: support 1, never predicted -> recall 0, precision None
    assert (by_name["d"]["recall"], by_name["d"]["precision"]) == (0.0, None)
    text = format_report(rows)
    assert text.splitlines()[0].startswith("class")
    assert "0.667" in text.splitlines()[1]


# EPIC-Kitchens-100: 4 samples, 6 verbs, 6 nouns, probabilities (each row sums to 1).
EPIC_VERBS = np.array(
    [
        [0.50, 0.30, 0.10, 0.05, 0.03, 0.02],  # A
        [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],  # B
        [0.30, 0.25, 0.20, 0.15, 0.06, 0.04],  # C
        [0.05, 0.05, 0.05, 0.05, 0.40, 0.40],  # D
    ]
)
EPIC_NOUNS = np.array(
    [
        [0.40, 0.35, 0.10, 0.10, 0.03, 0.02],  # A
        [0.05, 0.05, 0.70, 0.10, 0.05, 0.05],  # B
        [0.90, 0.02, 0.02, 0.02, 0.02, 0.02],  # C
        [1 / 6] * 6,  # D
    ]
)
EPIC_VERB_T = np.array([0, 1, 4, 5])
EPIC_NOUN_T = np.array([3, 2, 0, 5])


def test_epic_verb_noun_action_hand_computed():
    # A, target (0, 3). verb 0 ranked 1st. nouns rank 0, 1, 2, 3 (2 and 3 tie at .10: 2 first) -> noun 3 is 4th.
    #    actions: (0,0)=.20 (0,1)=.175 (1,0)=.12 (1,1)=.105, then (0,2)=(0,3)=.05 tie -> (0,2) (lower index) is 5th,
    #    (0,3) 6th -> action top-5 NO.
    # B, target (1, 2): verb 1 and noun 2 ranked 1st -> everything correct.
    # C, target (4, 0): verbs rank 0,1,2,3,4 -> verb 4 is 5th (top-5 only); noun 0 is 1st.
    #    actions (v,0) = .27 .225 .18 .135 .054, all others <= .3*.02 = .006 -> (4,0) is 5th: action top-5 yes.
    # D, target (5, 5): verbs 4 and 5 tie at .40 -> 4 first, verb 5 is 2nd. nouns all tie -> noun 5 is 6th.
    #    actions (4,n) and (5,n) all tie at .4/6 -> ids 24..29 first -> (5,5) not in top-5.
    m = epic_action_metrics(EPIC_VERBS, EPIC_NOUNS, EPIC_VERB_T, EPIC_NOUN_T)
    assert m["verb_top1"] == pytest.approx(2 / 4)  # A, B
    assert m["verb_top5"] == pytest.approx(4 / 4)
    assert m["noun_top1"] == pytest.approx(2 / 4)  # B, C
    assert m["noun_top5"] == pytest.approx(3 / 4)  # not D
    assert m["action_top1"] == pytest.approx(1 / 4)  # B: the only sample with verb and noun top-1 correct
    assert m["action_top5"] == pytest.approx(2 / 4)  # B, C


def test_action_ties_break_by_action_index_not_by_verb_rank():
    # verbs = nouns = [.3, .6, .1]; action (v, n) has index 3v + n.
    # products: (1,1)=.36; (0,1)=(1,0)=.18 tie -> (0,1) [index 1] before (1,0) [index 3], although verb 1 outranks
    # verb 0; (0,0)=.09; then (1,2)=(2,1)=.06 tie -> (1,2) [index 5] before (2,1) [index 7].
    p = np.array([[0.3, 0.6, 0.1]])
    verbs, nouns = action_topk(p, p, 5)
    assert list(zip(verbs[0].tolist(), nouns[0].tolist())) == [(1, 1), (0, 1), (1, 0), (0, 0), (1, 2)]


def _brute_force_action_topk(verbs: np.ndarray, nouns: np.ndarray, k: int) -> np.ndarray:
    """Reference: all Kv*Kn outer-product scores, ranked by score desc then action index asc."""
    n, kn = nouns.shape
    scores = (verbs[:, :, None] * nouns[:, None, :]).reshape(n, -1)
    out = []
    for row in scores:
        ids = np.arange(row.size)
        order = np.lexsort((ids, -row))  # last key is primary: score desc, then index asc
        out.append(order[:k])
    return np.array(out)


def test_action_topk_matches_full_outer_product():
    rng = np.random.default_rng(0)
    verbs = rng.dirichlet(np.ones(7), size=50)
    nouns = rng.dirichlet(np.ones(9), size=50)
    verbs[:5, :3] = 0.1  # add ties
    nouns[:5] = 1 / 9
    for k in (1, 5):
        bv, bn = action_topk(verbs, nouns, k)
        np.testing.assert_array_equal(bv * 9 + bn, _brute_force_action_topk(verbs, nouns, k))


def test_epic_top1_action_is_verb_and_noun_top1():
    rng = np.random.default_rng(1)
    verbs, nouns = rng.dirichlet(np.ones(5), size=40), rng.dirichlet(np.ones(4), size=40)
    vt, nt = rng.integers(0, 5, 40), rng.integers(0, 4, 40)
    m = epic_action_metrics(verbs, nouns, vt, nt, ks=(1,))
    both = (verbs.argmax(1) == vt) & (nouns.argmax(1) == nt)
    assert m["action_top1"] == pytest.approx(both.mean())


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(ShapeError, match=r"expected \[N, K\]"):
        topk_accuracy(np.zeros(4), np.zeros(4, dtype=int))
    with pytest.raises(InputError, match="out of range"):
        topk_accuracy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="non-negative"):
        action_topk(-np.ones((1, 2)), np.ones((1, 2)), 1)


def test_confusion_matrix_png(tmp_path):
    cm = confusion_matrix(MCA_PREDS, MCA_TARGETS, 4)
    path = plot_confusion_matrix(cm, ["a", "b", "c", "d"], tmp_path / "cm.png", title="val")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(path) as img:
        assert img.size[0] > 200 and img.size[1] > 200
