"""Proposal relation head: padding masks, targets by hand, loss terms, second-stage learning."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import ShapeError
from vidstruct.models import MODELS
from vidstruct.models.localization.relation import RelationHead, refine_segments, relation_loss, relation_targets


def _head(**kw: object) -> RelationHead:
    torch.manual_seed(0)
    return MODELS.build("relation_head", in_dim=12, d_model=16, num_heads=2, dropout=0.0, **kw).eval()


def _segments(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(1, n, 2, generator=g).sort(dim=-1).values
    return s


def test_padded_proposals_do_not_change_real_ones() -> None:
    head = _head()
    feats, segs = torch.randn(1, 5, 12), _segments(5, 0)
    alone = head(feats, segs)
    padded_feats = torch.cat([feats, 100 * torch.randn(1, 3, 12)], dim=1)  # garbage in the padded slots
    padded_segs = torch.cat([segs, _segments(3, 1)], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    padded = head(padded_feats, padded_segs, mask)
    for key in ("cls_logit", "iou", "offsets"):
        assert torch.allclose(padded[key][:, :5], alone[key], atol=1e-5)
        assert padded[key][:, 5:].abs().max() == 0
    # and the real proposals do interact: changing one changes the others
    other = head(torch.cat([feats[:, :4], -feats[:, 4:]], dim=1), segs)
    assert not torch.allclose(other["cls_logit"][:, :4], alone["cls_logit"][:, :4], atol=1e-4)


def test_video_without_proposals_is_finite() -> None:
    head = _head()
    out = head(torch.randn(2, 4, 12), _segments(4, 2).expand(2, -1, -1), torch.tensor([[True] * 4, [False] * 4]))
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out["cls_logit"][1].abs().max() == 0


def test_relation_targets_by_hand() -> None:
    proposals = torch.tensor([[[0.2, 0.5], [0.6, 0.7], [0.0, 1.0]]])
    gt = torch.tensor([[[0.22, 0.55], [0.6, 0.7], [0.0, 0.0]]])
    gt_mask = torch.tensor([[True, True, False]])  # the third GT is padding
    out = relation_targets(proposals, gt, gt_mask)
    # [0.2, 0.5] vs [0.22, 0.55]: inter 0.28, union 0.35 → 0.8; offsets (0.02/0.3, 0.05/0.3)
    assert out["iou"][0, 0].item() == pytest.approx(0.8)
    assert torch.allclose(out["offsets"][0, 0], torch.tensor([0.02 / 0.3, 0.05 / 0.3]), atol=1e-6)
    assert out["iou"][0, 1].item() == pytest.approx(1.0)
    assert torch.allclose(out["offsets"][0, 1], torch.zeros(2), atol=1e-6)
    # [0, 1] vs the GTs: 0.33 and 0.1 → the first GT; offsets (0.22/1, -0.45/1)
    assert out["iou"][0, 2].item() == pytest.approx(0.33)
    assert torch.allclose(out["offsets"][0, 2], torch.tensor([0.22, -0.45]), atol=1e-6)


def test_refine_segments() -> None:
    seg = torch.tensor([[0.2, 0.5], [0.9, 1.0]])
    out = refine_segments(seg, torch.tensor([[0.1, -0.2], [0.5, 1.0]]))
    assert torch.allclose(out, torch.tensor([[0.23, 0.44], [0.95, 1.0]]))


def test_loss_counts_offsets_of_positives_only() -> None:
    targets = {"iou": torch.tensor([[0.8, 0.2, 0.9]]), "offsets": torch.tensor([[[0.1, 0.1], [0.5, 0.5], [0.0, 0.0]]])}
    mask = torch.tensor([[True, True, False]])
    outputs = {"cls_logit": torch.zeros(1, 3), "iou": torch.full((1, 3), 0.5), "offsets": torch.zeros(1, 3, 2)}
    base = relation_loss(outputs, targets, mask)
    moved = dict(outputs, offsets=torch.tensor([[[0.0, 0.0], [3.0, -3.0], [7.0, 7.0]]]))  # a negative and a padded one
    assert relation_loss(moved, targets, mask)["rel_offset"].item() == pytest.approx(base["rel_offset"].item())
    assert base["rel_cls"].item() == pytest.approx(torch.log(torch.tensor(2.0)).item(), rel=1e-6)  # logit 0 → log 2
    # smooth-L1 (β = 0.1) of the positive's offsets 0.1 and 0.1: ½·0.1²/0.1 each = 0.05 + 0.05
    assert base["rel_offset"].item() == pytest.approx(0.1, rel=1e-5)


def test_second_stage_learns_to_rank() -> None:
    """Frozen-proposal training: features hold the (noisy) IoU; the head learns to score positives higher."""
    g = torch.Generator().manual_seed(0)
    segs = torch.rand(8, 10, 2, generator=g).sort(dim=-1).values
    gt = torch.tensor([[[0.3, 0.6]]]).expand(8, 1, 2)
    targets = relation_targets(segs, gt)
    feats = torch.cat([targets["iou"].unsqueeze(-1), torch.randn(8, 10, 11, generator=g) * 0.1], dim=-1)
    head = _head()
    head.train()
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = relation_loss(head(feats, segs), targets)["relation"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2
    out = head.eval()(feats, segs)
    pos = targets["iou"] >= 0.5
    assert pos.any() and (~pos).any()
    assert out["cls_logit"][pos].min() > out["cls_logit"][~pos].max() - 1.0
    assert out["cls_logit"][pos].mean() > out["cls_logit"][~pos].mean() + 2.0


def test_input_errors() -> None:
    head = _head()
    with pytest.raises(ShapeError, match=r"\[B, P, 12\]"):
        head(torch.randn(1, 3, 11), torch.rand(1, 3, 2))
    with pytest.raises(ShapeError, match="segments"):
        head(torch.randn(1, 3, 12), torch.rand(1, 4, 2))
