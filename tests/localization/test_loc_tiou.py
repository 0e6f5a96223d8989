"""tIoU: one implementation (torch) with numpy entries for the metrics; hand-computed and ActivityNet-formula values."""

from __future__ import annotations

import numpy as np
import torch

from vidstruct.data.tiou import paired_tiou, pairwise_tiou
from vidstruct.eval.temporal.tiou import paired_tiou as np_paired
from vidstruct.eval.temporal.tiou import pairwise_tiou as np_pairwise


def test_pairwise_tiou_by_hand() -> None:
    a = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    b = torch.tensor([[0.5, 1.5], [5.0, 6.0], [2.0, 4.0]])
    # [0,1] vs [0.5,1.5]: inter 0.5, union 1.5; disjoint: 0; identical: 1
    expected = [[0.5 / 1.5, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert torch.allclose(pairwise_tiou(a, b), torch.tensor(expected))
    np.testing.assert_allclose(np_pairwise(a.numpy(), b.numpy()), expected, rtol=1e-15)
    # batch dims: [B, M, 2] x [B, G, 2] -> [B, M, G]
    assert torch.equal(pairwise_tiou(a.expand(3, 2, 2), b.expand(3, 3, 2)), pairwise_tiou(a, b).expand(3, 2, 3))
    # zero-length segments: union 0 gives 0, never NaN; a point inside a segment overlaps nothing
    assert paired_tiou(torch.tensor([3.0, 3.0]), torch.tensor([3.0, 3.0])).item() == 0.0
    assert np_paired(np.array([3.0, 3.0]), np.array([0.0, 5.0])) == 0.0


def test_numpy_entry_equals_the_activitynet_formula_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    pred = np.sort(rng.uniform(0, 100, (200, 2)), axis=1)
    gt = np.sort(rng.uniform(0, 100, (200, 2)), axis=1)
    gt[:20] = pred[:20]  # some identical pairs (tIoU exactly 1)
    got = np_paired(pred, gt)
    for (ps, pe), (gs, ge), value in zip(pred, gt, got, strict=True):
        inter = max(0.0, min(pe, ge) - max(ps, gs))
        union = (pe - ps) + (ge - gs) - inter  # the toolkit's candidate + target - intersection
        assert value == inter / union
    # non-contiguous and reversed views are accepted
    assert np.array_equal(np_paired(pred[::-1], gt[::-1]), got[::-1])
    assert np.array_equal(np_pairwise(pred[:5], gt[:7])[np.arange(5), np.arange(5)], got[:5])
