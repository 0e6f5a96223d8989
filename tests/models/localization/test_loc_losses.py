"""BMN losses against the reference's formulas, computed by hand on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch

from vidstruct.errors import ShapeError
from vidstruct.models.localization.losses import balanced_bce, bmn_loss, pem_cls_loss, pem_reg_loss, tem_loss

EPS = 1e-6


def reference_bi_loss(pred: list[float], label: list[float]) -> float:
    """The reference's TEM ``bi_loss``: ratio = M / #pos, coef_0 = ½·ratio/(ratio-1), coef_1 = ½·ratio."""
    pmask = [1.0 if g > 0.5 else 0.0 for g in label]
    ratio = len(pred) / sum(pmask)
    coef_0, coef_1 = 0.5 * ratio / (ratio - 1), 0.5 * ratio
    terms = [coef_1 * math.log(p + EPS) * m + coef_0 * math.log(1 - p + EPS) * (1 - m) for p, m in zip(pred, pmask)]
    return -sum(terms) / len(terms)


def test_balanced_bce_matches_reference_coefficients() -> None:
    pred, label = [0.8, 0.4, 0.1, 0.3], [1.0, 0.2, 0.0, 0.6]  # positives: 0 and 3 (label > 0.5)
    got = balanced_bce(torch.tensor(pred, dtype=torch.float64), torch.tensor(label) > 0.5)
    assert got.item() == pytest.approx(reference_bi_loss(pred, label), rel=1e-9)
    # by hand: M = 4, #pos = 2 → both coefficients 1: -(log .8 + log .3 + log .6 + log .9) / 4
    hand = -(math.log(0.8 + EPS) + math.log(0.3 + EPS) + math.log(0.6 + EPS) + math.log(0.9 + EPS)) / 4
    assert got.item() == pytest.approx(hand, rel=1e-9)


def test_tem_loss_is_start_plus_end() -> None:
    ps, pe = torch.tensor([[0.9, 0.2, 0.1, 0.3]]), torch.tensor([[0.1, 0.1, 0.7, 0.6]])
    gs, ge = torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.5, 1.0]])
    expected = reference_bi_loss([0.9, 0.2, 0.1, 0.3], [1, 0, 0, 0]) + reference_bi_loss(
        [0.1, 0.1, 0.7, 0.6], [0, 0, 0.5, 1]
    )
    assert tem_loss(ps, pe, gs, ge).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ShapeError, match="start"):
        tem_loss(ps, pe, gs[:, :3], ge)


def _valid(d: int, t: int) -> torch.Tensor:
    return (torch.arange(t).view(1, t) + torch.arange(d).view(d, 1)) < t


def test_pem_cls_loss_ignores_invalid_cells() -> None:
    valid = _valid(3, 3)  # valid: (0,0) (0,1) (0,2) (1,0) (1,1) (2,0)
    gt = torch.tensor([[[0.95, 0.2, 0.0], [0.5, 0.0, 0.99], [0.1, 0.97, 0.98]]])  # the last three cells are invalid
    pred = torch.full((1, 3, 3), 0.3)
    loss = pem_cls_loss(pred, gt, valid)
    # counted: the 6 valid cells, 1 positive (0.95): coefficients ½·6/1 = 3 and ½·6/5 = 0.6
    expected = -(3 * math.log(0.3 + EPS) + 0.6 * 5 * math.log(0.7 + EPS)) / 6
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    pred2 = pred.clone()
    pred2[0, 2, 2] = 0.99  # an invalid cell
    assert pem_cls_loss(pred2, gt, valid).item() == pytest.approx(loss.item())


def test_pem_reg_loss_without_subsampling() -> None:
    # #high ≥ #medium and ≥ #low: every band is kept whole (rate 1), so the loss is deterministic.
    valid = _valid(2, 3)  # invalid: (1, 2)
    gt = torch.tensor([[[0.9, 0.8, 0.5], [0.2, 0.0, 0.95]]])  # high: 0.9, 0.8; medium 0.5; low 0.2; zero: excluded
    pred = torch.tensor([[[0.7, 0.8, 0.1], [0.6, 0.9, 0.0]]])
    loss = pem_reg_loss(pred, gt, valid, generator=torch.Generator().manual_seed(0))
    expected = 0.5 * ((0.2**2) + 0 + (0.4**2) + (0.4**2)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_pem_reg_loss_subsamples_the_medium_band() -> None:
    gt = torch.full((1, 50, 50), 0.5)
    gt[0, 0, 0] = 0.9  # 1 high cell, ~1274 medium cells: about one medium cell is sampled per call
    valid = _valid(50, 50)
    pred = torch.zeros(1, 50, 50)
    gen = torch.Generator().manual_seed(0)
    values = [pem_reg_loss(pred, gt, valid, generator=gen).item() for _ in range(200)]
    # with h high and m medium samples: 0.5·(0.81 + 0.25·m)/(1 + m); E[m] = 1 → about 0.27 on average
    assert 0.2 < sum(values) / len(values) < 0.35
    assert all(math.isfinite(v) for v in values)


def test_pem_reg_loss_without_positives_is_zero_and_differentiable() -> None:
    pred = torch.rand(1, 4, 4, requires_grad=True)
    loss = pem_reg_loss(pred, torch.zeros(1, 4, 4), _valid(4, 4))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_bmn_loss_weights() -> None:
    g = torch.Generator().manual_seed(0)
    outputs = {
        "start": torch.rand(2, 6, generator=g),
        "end": torch.rand(2, 6, generator=g),
        "confidence": torch.rand(2, 2, 6, 6, generator=g),
    }
    targets = {
        "start": torch.rand(2, 6, generator=g),
        "end": torch.rand(2, 6, generator=g),
        "iou_map": torch.rand(2, 6, 6, generator=g),
    }
    out = bmn_loss(outputs, targets, generator=torch.Generator().manual_seed(3))
    assert out["loss"].item() == pytest.approx((out["tem"] + 10 * out["pem_reg"] + out["pem_cls"]).item(), rel=1e-6)
    with pytest.raises(ValueError, match="iou_map"):
        bmn_loss(outputs, {"start": targets["start"], "end": targets["end"]})
