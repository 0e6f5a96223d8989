"""Decoding: BMN boundary candidates and pairs, CAS multi-threshold grouping with NMS (hand-made inputs)."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import InputError, ShapeError
from vidstruct.eval.localization.decode import (
    bmn_proposals,
    boundary_candidates,
    decode_bmn,
    decode_cas,
    group_segments,
)


def test_boundary_candidates() -> None:
    start = torch.tensor([0.05, 0.1, 0.3, 0.1, 0.9, 0.5])
    # 0.5·max = 0.45 → {4, 5}; local maxima {2, 4}; first snippet {0}
    assert boundary_candidates(start, keep="first").tolist() == [True, False, True, False, True, True]
    end = torch.tensor([0.9, 0.1, 0.2, 0.1, 0.05, 0.01])
    assert boundary_candidates(end, keep="last").tolist() == [True, False, True, False, False, True]


def test_bmn_proposals_by_hand() -> None:
    start = torch.tensor([0.9, 0.1, 0.2, 0.1])  # candidates: 0 (first, > 0.45), 2 (local max)
    end = torch.tensor([0.1, 0.3, 0.1, 0.8])  # candidates: 1 (local max), 3 (last, > 0.4)
    conf = torch.ones(2, 4, 4)
    conf[1] = torch.tensor([[1.0, 1, 1, 1], [0.5, 1, 0.25, 1], [1, 1, 1, 1], [0.4, 1, 1, 1]])  # cls map [d, t]
    rows = bmn_proposals(start, end, conf, duration_s=8.0)
    # pairs (t, e = t + d): (0, 1) d=1, (0, 3) d=3, (2, 3) d=1; segment [t, e + 1] · 8 s / 4
    expected = {
        (0.0, 4.0): 0.9 * 0.3 * 0.5,
        (0.0, 8.0): 0.9 * 0.8 * 0.4,
        (4.0, 8.0): 0.2 * 0.8 * 0.25,
    }
    assert rows.shape == (3, 3)
    got = {(r[0].item(), r[1].item()): r[2].item() for r in rows}
    assert got.keys() == expected.keys()
    for key, score in expected.items():
        assert got[key] == pytest.approx(score, rel=1e-6)
    assert rows[:, 2].tolist() == sorted(rows[:, 2].tolist(), reverse=True)
    with pytest.raises(InputError, match="duration_s"):
        bmn_proposals(start, end, conf, duration_s=-1.0)


def test_decode_bmn_batch() -> None:
    outputs = {"start": torch.rand(2, 6), "end": torch.rand(2, 6), "confidence": torch.rand(2, 2, 4, 6)}
    out = decode_bmn(outputs, [12.0, 6.0])
    assert len(out) == 2
    assert out[0][:, 1].max() <= 12.0 and out[1][:, 1].max() <= 6.0
    assert (out[0][:, 1] > out[0][:, 0]).all()
    with pytest.raises(ShapeError, match="durations_s"):
        decode_bmn(outputs, [1.0])


def test_group_segments_by_hand() -> None:
    act = torch.tensor([0.0, 0.9, 0.8, 0.2, 0.1, 0.6, 0.7, 0.65, 0.0, 0.0])
    rows = group_segments(act, [0.5, 0.85], duration_s=20.0, score="mean")
    # th 0.5: snippets 1-2 → [2 s, 6 s], mean 0.85; 5-7 → [10 s, 16 s], mean 0.65; th 0.85: snippet 1 → [2 s, 4 s], 0.9
    expected = [[2.0, 6.0, 0.85], [10.0, 16.0, 0.65], [2.0, 4.0, 0.9]]
    assert torch.allclose(rows, torch.tensor(expected), atol=1e-6)
    oic = group_segments(act, [0.5, 0.85], duration_s=20.0, score="oic", outer_ratio=0.25)
    # outer regions ⌈0.25·len⌉ = 1 snippet per side: {0, 3} → 0.1; {4, 8} → 0.05; {0, 2} → 0.4
    assert torch.allclose(oic[:, 2], torch.tensor([0.85 - 0.1, 0.65 - 0.05, 0.9 - 0.4]), atol=1e-6)
    assert group_segments(act, [0.95], duration_s=20.0).shape == (0, 3)


def test_segment_touching_the_video_edge() -> None:
    act = torch.tensor([0.9, 0.9, 0.0, 0.0])
    rows = group_segments(act, [0.5], duration_s=4.0, score="oic", outer_ratio=0.5)
    # snippets 0-1 → [0 s, 2 s]; outer: only snippet 2 (nothing before the start) → 0.9 - 0
    assert torch.allclose(rows, torch.tensor([[0.0, 2.0, 0.9]]))


def test_decode_cas_classes_and_nms() -> None:
    cas = torch.zeros(10, 3)
    cas[2:5, 1] = 0.9  # class 1 in snippets 2-4
    cas[6:8, 2] = 0.8  # class 2, but its video score is low
    video = torch.tensor([0.1, 0.9, 0.05])
    rows = decode_cas(cas, video, duration_s=10.0, thresholds=[0.3, 0.5], class_threshold=0.2)
    # both thresholds give the same run [2 s, 5 s]: NMS keeps one; contrast 0.9 (the padded snippets 1 and 5
    # are 0) + 0.2·0.9, mapped to [0, 1]: (1.08 + 1) / 2.2
    assert rows.shape == (1, 4)
    assert torch.allclose(rows[0], torch.tensor([2.0, 5.0, 2.08 / 2.2, 1.0]), atol=1e-6)
    low = decode_cas(cas, torch.tensor([0.1, 0.15, 0.05]), duration_s=10.0, thresholds=[0.5], class_threshold=0.2)
    assert low[:, 3].tolist() == [1.0]  # no class reaches the threshold: the best class is still decoded
