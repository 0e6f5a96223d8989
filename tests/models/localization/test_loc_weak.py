"""Weakly supervised CAS model: MIL pooling, losses, and a toy that learns labels and localizes from them."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import ShapeError
from vidstruct.eval.localization.decode import decode_cas
from vidstruct.models import MODELS
from vidstruct.models.localization.weak import topk_pool

T, F, C = 32, 16, 3


def test_topk_pool_by_hand() -> None:
    cas = torch.arange(8.0).view(1, 8, 1).repeat(1, 1, 2)
    cas[0, :, 1] = torch.tensor([5.0, -1, 0, 9, 2, 2, 2, 1])
    assert topk_pool(cas, 2).tolist() == [[6.5, 7.0]]  # (7 + 6) / 2 and (9 + 5) / 2


def test_forward_uses_k_of_t_over_8_and_loss_terms() -> None:
    torch.manual_seed(0)
    model = MODELS.build("weak_cas", feat_dim=F, num_classes=C, hidden_dim=8, dropout=0.0).eval()
    out = model(torch.randn(2, F, 16))
    assert out["cas"].shape == out["cas_base"].shape == (2, 16, C + 1)
    assert out["attention"].shape == (2, 16)
    manual = out["cas"].topk(2, dim=1).values.mean(1)  # k = 16 // 8
    assert torch.allclose(out["video_logits"], manual)
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 1]])
    losses = model.loss(out, {"labels": labels})
    # suppressed branch: target (labels, background 0) normalized, e.g. video 1 → [0, ½, ½, 0]
    logp = torch.log_softmax(out["video_logits"], dim=-1)
    supp = -(logp[0, 0] + 0.5 * logp[1, 1] + 0.5 * logp[1, 2]) / 2
    assert losses["supp"].item() == pytest.approx(supp.item(), rel=1e-5)
    logb = torch.log_softmax(out["video_logits_base"], dim=-1)
    base = -((logb[0, 0] + logb[0, 3]) / 2 + (logb[1, 1] + logb[1, 2] + logb[1, 3]) / 3) / 2
    assert losses["base"].item() == pytest.approx(base.item(), rel=1e-5)
    with pytest.raises(ShapeError, match="multi-hot"):
        model.loss(out, torch.zeros(2, C + 1))


def make_videos(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int, int]]]:
    """Videos of T snippets: background features everywhere except one action (class c) in [s, e)."""
    protos = torch.randn(C + 1, F, generator=torch.Generator().manual_seed(42)) * 1.5
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, F, T, generator=g) * 0.5 + protos[C].view(1, F, 1)
    labels = torch.zeros(n, C)
    truth = []
    for i in range(n):
        c = int(torch.randint(C, (1,), generator=g))
        length = int(torch.randint(6, 12, (1,), generator=g))
        s = int(torch.randint(0, T - length, (1,), generator=g))
        feats[i, :, s : s + length] += (protos[c] - protos[C]).view(F, 1)
        labels[i, c] = 1
        truth.append((c, s, s + length))
    return feats, labels, truth


def test_toy_mil_learns_labels_and_localizes() -> None:
    torch.manual_seed(0)
    model = MODELS.build("weak_cas", feat_dim=F, num_classes=C, hidden_dim=32, dropout=0.2)
    feats, labels, _ = make_videos(48, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(120):
        loss = model.loss(model(feats), labels)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    test_feats, test_labels, truth = make_videos(16, seed=5)
    model.eval()
    with torch.no_grad():
        cas, video = model.probabilities(model(test_feats))
    assert (video.argmax(1) == test_labels.argmax(1)).all()
    peaks_inside = sum(s <= int(cas[i, :, c].argmax()) < e for i, (c, s, e) in enumerate(truth))
    assert peaks_inside >= 15
    hits = 0
    for i, (c, s, e) in enumerate(truth):
        rows = decode_cas(cas[i], video[i], duration_s=float(T), thresholds=[0.1, 0.3, 0.5])
        top = rows[0]
        inter = max(0.0, min(e, top[1].item()) - max(s, top[0].item()))
        tiou = inter / ((e - s) + (top[1] - top[0]).item() - inter)
        hits += int(top[3].item() == c and tiou > 0.5)
    assert hits >= 14
