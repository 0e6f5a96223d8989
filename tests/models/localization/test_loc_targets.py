"""BMN targets on the T grid, checked against hand-computed values (T = 10, duration 10 s)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from vidstruct.errors import InputError, ShapeError
from vidstruct.models.localization.targets import bmn_targets, bmn_targets_batch, cell_segments


def test_one_segment_by_hand() -> None:
    # GT [2.2 s, 5.5 s] of a 10 s video → [0.22, 0.55]; T = 10; boundary regions ±1.5/T = ±0.15.
    out = bmn_targets([[2.2, 5.5]], 10.0, temporal_scale=10)
    # start region [0.07, 0.37]; start anchor i = [(i-0.5)/10, (i+0.5)/10]:
    #   i=1 [0.05, 0.15] ∩ = 0.08 → 0.8; i=2, 3 inside → 1; i=4 [0.35, 0.45] ∩ = 0.02 → 0.2; others 0
    expected_start = [0, 0.8, 1, 1, 0.2, 0, 0, 0, 0, 0]
    # end region [0.40, 0.70]; end anchor i = [(i+0.5)/10, (i+1.5)/10] (centred on (i+1)/10):
    #   i=3 [0.35, 0.45] ∩ = 0.05 → 0.5; i=4, 5 inside → 1; i=6 [0.65, 0.75] ∩ = 0.05 → 0.5
    expected_end = [0, 0, 0, 0.5, 1, 1, 0.5, 0, 0, 0]
    assert torch.allclose(out.start, torch.tensor(expected_start), atol=1e-6)
    assert torch.allclose(out.end, torch.tensor(expected_end), atol=1e-6)
    iou = out.iou_map
    assert iou.shape == (10, 10)
    # cell (d, t) = [t/10, (t+d+1)/10]
    assert iou[2, 2].item() == pytest.approx(0.28 / 0.35)  # [0.2, 0.5]: inter 0.28, union 0.30 + 0.33 - 0.28
    assert iou[3, 2].item() == pytest.approx(0.33 / 0.40)  # [0.2, 0.6]: inter 0.33, union 0.40
    assert iou[3, 3].item() == pytest.approx(0.25 / 0.48)  # [0.3, 0.7]: inter 0.25, union 0.40 + 0.33 - 0.25
    assert iou[9, 0].item() == pytest.approx(0.33)  # the whole video
    assert iou[0, 0].item() == 0.0  # [0, 0.1] misses the GT
    assert iou[5, 5].item() == 0.0  # t + d = 10 ≥ T: invalid cell
    assert iou[0, 2].item() == pytest.approx(0.08 / 0.35)  # [0.2, 0.3]: inter 0.08, union 0.10 + 0.33 - 0.08


def test_cell_iou_matches_direct_formula() -> None:
    out = bmn_targets([[2.2, 5.5]], 10.0, temporal_scale=10)
    for d, t in [(0, 2), (1, 4), (4, 1), (6, 3)]:
        s, e = t / 10, (t + d + 1) / 10
        inter = max(0.0, min(e, 0.55) - max(s, 0.22))
        expected = inter / ((e - s) + 0.33 - inter)
        assert out.iou_map[d, t].item() == pytest.approx(expected, abs=1e-6)


def test_two_segments_take_the_max_and_segment_objects() -> None:
    @dataclass
    class Seg:
        start_s: float
        end_s: float

    out = bmn_targets([Seg(2.2, 5.5), Seg(7.0, 9.0)], 10.0, temporal_scale=10)
    # second GT [0.7, 0.9]: start region [0.55, 0.85] covers start anchors 6, 7, 8 fully (5 only touches it)
    assert torch.allclose(out.start, torch.tensor([0, 0.8, 1, 1, 0.2, 0, 1, 1, 1, 0]), atol=1e-6)
    # end region [0.75, 1.05]: end anchors i=7 [0.75, 0.85], 8 [0.85, 0.95], 9 [0.95, 1.05] → 1
    assert torch.allclose(out.end, torch.tensor([0, 0, 0, 0.5, 1, 1, 0.5, 1, 1, 1]), atol=1e-6)
    assert out.iou_map[1, 7].item() == pytest.approx(1.0)  # [0.7, 0.9] is the second GT exactly
    assert out.iou_map[3, 2].item() == pytest.approx(0.825)  # still the first GT's value


def test_clipping_empty_and_errors() -> None:
    out = bmn_targets(np.array([[9.0, 12.0]]), 10.0, temporal_scale=10)  # clipped to [0.9, 1.0]
    assert torch.allclose(out.segments, torch.tensor([[0.9, 1.0]]))
    assert out.iou_map[0, 9].item() == pytest.approx(1.0)
    empty = bmn_targets([], 10.0, temporal_scale=8, max_duration=4)
    assert empty.iou_map.shape == (4, 8) and empty.start.sum() == 0 and empty.end.sum() == 0
    with pytest.raises(InputError, match="duration_s"):
        bmn_targets([[1, 2]], 0.0)
    with pytest.raises(InputError, match=r"segments\[0\]"):
        bmn_targets([[3, 2]], 10.0)
    with pytest.raises(ShapeError, match=r"\[G, 2\]"):
        bmn_targets(torch.zeros(2, 3), 10.0)


def test_batch_pads_segments() -> None:
    batch = bmn_targets_batch(
        [([[1, 2]], 10.0), ([[1, 2], [5, 8]], 20.0), ([], 5.0)], temporal_scale=16, max_duration=8
    )
    assert batch["start"].shape == (3, 16) and batch["iou_map"].shape == (3, 8, 16)
    assert batch["segments"].shape == (3, 2, 2)
    assert batch["segment_mask"].tolist() == [[True, False], [True, True], [False, False]]
    assert torch.allclose(batch["segments"][1], torch.tensor([[0.05, 0.1], [0.25, 0.4]]))


def test_cell_segments() -> None:
    cells = cell_segments(4, 2)
    assert cells.shape == (2, 4, 2)
    assert cells[1, 2].tolist() == [0.5, 1.0]
