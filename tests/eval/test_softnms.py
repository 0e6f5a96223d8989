"""Soft-NMS / NMS of temporal segments and fusion with class probabilities: hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from anet_reference import soft_nms_loop

from vidstruct.errors import InputError, ShapeError
from vidstruct.eval.postprocess import fuse_classification, nms, soft_nms

# a [0,10] .9 | b [1,11] .8 | c [5,15] .7 | d [20,30] .6
# tIoU(a,b) = 9/(10+10-9) = 9/11; tIoU(a,c) = 5/15 = 1/3; tIoU(b,c) = 6/14 = 3/7; d overlaps nothing
SEG = [[0, 10], [1, 11], [5, 15], [20, 30]]
SCO = [0.9, 0.8, 0.7, 0.6]


def test_gaussian_by_hand():
    # sigma .5, threshold 0:
    # 1) keep a (.9); b <- .8 exp(-1.33884) = .8 * .26215 = .20972; c <- .7 exp(-.22222) = .7 * .80074 = .56052
    #    d stays .6
    # 2) keep d (.6): no overlap
    # 3) keep c (.56052); b <- .20972 exp(-(3/7)^2/.5) = .20972 * exp(-.36735) = .20972 * .69256 = .14524
    # 4) keep b (.14524)
    b1 = 0.8 * math.exp(-((9 / 11) ** 2) / 0.5)
    c1 = 0.7 * math.exp(-((1 / 3) ** 2) / 0.5)
    b2 = b1 * math.exp(-((3 / 7) ** 2) / 0.5)
    seg, scores, idx = soft_nms(SEG, SCO, method="gaussian", sigma=0.5)
    assert idx.tolist() == [0, 3, 2, 1]
    np.testing.assert_allclose(scores, [0.9, 0.6, c1, b2], rtol=1e-12)
    assert scores[2] == pytest.approx(0.56052, abs=1e-5) and scores[3] == pytest.approx(0.14524, abs=1e-5)
    np.testing.assert_array_equal(seg, np.asarray(SEG, dtype=float)[[0, 3, 2, 1]])


def test_linear_by_hand():
    # threshold .3: 1) keep a; b <- .8 (1 - 9/11) = 16/110; c <- .7 (1 - 1/3) = 7/15; d .6
    # 2) keep d (.6)  3) keep c (7/15); b: tIoU 3/7 > .3 -> 16/110 * (4/7)  4) keep b
    _, scores, idx = soft_nms(SEG, SCO, method="linear", iou_threshold=0.3)
    assert idx.tolist() == [0, 3, 2, 1]
    np.testing.assert_allclose(scores, [0.9, 0.6, 7 / 15, 16 / 110 * 4 / 7], rtol=1e-12)


def test_hard_nms_by_hand():
    # threshold .4: keep a; b (9/11 > .4) removed, c (1/3) survives; then c (.7) before d (.6)
    seg, scores, idx = nms(SEG, SCO, iou_threshold=0.4)
    assert idx.tolist() == [0, 2, 3]
    assert scores.tolist() == [0.9, 0.7, 0.6]
    # tIoU([0,10],[1,10]) = 0.9 > 0.5 → suppressed; [0,5] vs [0,10] = 0.5, not > 0.5 → kept; top_k cuts the list
    segs = torch.tensor([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0], [0.0, 5.0]])
    scores4 = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(segs, scores4, iou_threshold=0.5)[2].tolist() == [0, 2, 3]
    assert nms(segs, scores4, iou_threshold=0.5, top_k=2)[2].tolist() == [0, 2]


def test_bmn_width_adaptive_threshold_by_hand():
    # duration 20 s, low .5, high .9, sigma .4: threshold of a = .5 + .4 * 10/20 = .7
    # 1) keep a; b (9/11 > .7) <- .8 exp(-(9/11)^2/.4) = .8 exp(-1.67355) = .8 * .18758 = .15006; c (1/3 < .7) stays .7
    # 2) keep c (.7): threshold .7 again, b's 3/7 is below -> no decay  3) keep d (.6)  4) keep b (.15006)
    _, scores, idx = soft_nms(SEG, SCO, sigma=0.4, low_threshold=0.5, high_threshold=0.9, duration=20.0)
    assert idx.tolist() == [0, 2, 3, 1]
    b1 = 0.8 * math.exp(-((9 / 11) ** 2) / 0.4)
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.6, b1], rtol=1e-12)
    assert b1 == pytest.approx(0.15006, abs=1e-5)


def test_top_k_min_score_and_labels():
    _, _, idx = soft_nms(SEG, SCO, sigma=0.5, top_k=2)
    assert idx.tolist() == [0, 3]
    # min_score .2: b survives step 1 (.20972) but drops below .2 after c is kept (.14524)
    _, _, idx = soft_nms(SEG, SCO, sigma=0.5, min_score=0.2)
    assert idx.tolist() == [0, 3, 2]
    # with labels only same-label segments decay each other: b (label 1) keeps .8; c decays by a only
    _, scores, idx = soft_nms(SEG, SCO, sigma=0.5, labels=[0, 1, 0, 0])
    assert idx.tolist() == [0, 1, 3, 2]
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.6, 0.7 * math.exp(-((1 / 3) ** 2) / 0.5)], rtol=1e-12)


def test_torch_inputs_and_empty():
    seg, scores, idx = soft_nms(torch.tensor(SEG, dtype=torch.float32), torch.tensor(SCO), sigma=0.5)
    assert idx.tolist() == [0, 3, 2, 1]
    seg, scores, idx = soft_nms(np.zeros((0, 2)), np.zeros(0))
    assert seg.shape == (0, 2) and scores.shape == (0,) and idx.shape == (0,)


def test_bad_inputs():
    with pytest.raises(ShapeError, match=r"segments: expected \[N, 2\]"):
        soft_nms([1, 2, 3], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"segments\[1\]: start 5.0 is after end 4.0"):
        soft_nms([[0, 1], [5, 4]], [0.5, 0.4])
    with pytest.raises(InputError, match="needs a positive duration"):
        soft_nms(SEG, SCO, low_threshold=0.5, high_threshold=0.9)
    with pytest.raises(InputError, match="method must be"):
        soft_nms(SEG, SCO, method="box")  # type: ignore[arg-type]


def test_matches_naive_loop_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 60))
        starts = rng.uniform(0, 100, n)
        segs = np.stack([starts, starts + rng.uniform(0.5, 30, n)], axis=1)
        scores = rng.permutation(n) / n + rng.uniform(0, 0.5 / n, n)
        sigma, thr, k = float(rng.uniform(0.2, 1.0)), float(rng.uniform(0, 0.6)), int(rng.integers(1, n + 1))
        kept, kept_scores = soft_nms_loop(segs.tolist(), scores.tolist(), sigma, thr, k)
        _, got_scores, got_idx = soft_nms(segs, scores, sigma=sigma, iou_threshold=thr, top_k=k)
        assert got_idx.tolist() == kept
        np.testing.assert_allclose(got_scores, kept_scores, rtol=1e-12)
        assert np.all(np.diff(got_scores) <= 0)


def test_fusion_with_video_classes():
    # proposals .8 and .5; class probabilities [.1, .6, .3] -> top-2 classes 1 (.6), 2 (.3)
    # detections: p0 x c1 = .48, p0 x c2 = .24, p1 x c1 = .30, p1 x c2 = .15
    seg, scores, labels = fuse_classification([[0, 5], [6, 9]], [0.8, 0.5], [0.1, 0.6, 0.3], top_k=2)
    np.testing.assert_allclose(scores, [0.48, 0.24, 0.30, 0.15], rtol=1e-12)
    assert labels.tolist() == [1, 2, 1, 2]
    np.testing.assert_array_equal(seg, [[0, 5], [0, 5], [6, 9], [6, 9]])
    _, _, labels = fuse_classification([[0, 5]], [1.0], [0.5, 0.5], top_k=5)  # k clamps to C, ties by index
    assert labels.tolist() == [0, 1]


def test_fusion_with_per_proposal_classes():
    # proposal 0 (.8) with its own probabilities [.7, .2, .1], proposal 1 (.5) with [.3, .3, .4]
    # top-1: p0 x c0 = .56; p1 x c2 = .20; top-2 adds p0 x c1 = .16 and p1 x c0 = .15 (tie .3/.3: lower index)
    seg, scores, labels = fuse_classification([[0, 5], [6, 9]], [0.8, 0.5], [[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]], top_k=2)
    np.testing.assert_allclose(scores, [0.56, 0.16, 0.20, 0.15], rtol=1e-12)
    assert labels.tolist() == [0, 1, 2, 0]
    with pytest.raises(ShapeError, match=r"\[K\] or \[P, K\]"):
        fuse_classification([[0, 5], [6, 9]], [0.8, 0.5], [[0.7, 0.3]])  # one row for two proposals
