"""Targets, label smoothing, soft cross-entropy, mixup / cutmix."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vidstruct.engine.losses import MixupCutmix, batch_targets, classification_loss, one_hot_smoothed
from vidstruct.errors import InputError


def test_one_hot_smoothed_by_hand():
    t = one_hot_smoothed(torch.tensor([2, 0]), 4, 0.2)
    # off-target 0.2 / 4 = 0.05; target 1 - 0.2 + 0.05 = 0.85
    assert torch.allclose(t, torch.tensor([[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]]))
    with pytest.raises(InputError, match="out of range"):
        one_hot_smoothed(torch.tensor([4]), 4, 0.0)


def test_soft_cross_entropy_equals_torch_label_smoothing():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 1])
    hard = classification_loss(logits, labels, label_smoothing=0.1)
    soft = classification_loss(logits, one_hot_smoothed(labels, 3, 0.1))
    assert torch.allclose(hard, F.cross_entropy(logits, labels, label_smoothing=0.1))
    assert torch.allclose(hard, soft)
    # hand value of the unsmoothed loss of sample 0: -log(e^2 / (e^2 + 1 + e^-1))
    by_hand = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    assert classification_loss(logits[:1], labels[:1]).item() == pytest.approx(by_hand, rel=1e-6)


def test_multi_head_loss_is_sum_over_heads():
    out = {"verb": torch.randn(3, 4), "noun": torch.randn(3, 5)}
    tgt = {"verb": torch.tensor([0, 1, 2]), "noun": torch.tensor([4, 0, 1])}
    expected = F.cross_entropy(out["verb"], tgt["verb"]) + F.cross_entropy(out["noun"], tgt["noun"])
    assert torch.allclose(classification_loss(out, tgt), expected)
    with pytest.raises(InputError, match="noun"):
        classification_loss(out, {"verb": tgt["verb"]})
    with pytest.raises(InputError, match="no 'label'"):
        batch_targets({"clip": torch.zeros(1)}, outputs_are_dict=False)


def test_mixup_blends_clips_and_targets_with_same_lambda():
    clip = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1, 1).expand(4, 3, 2, 4, 4).contiguous()
    mix = MixupCutmix(mixup_alpha=0.4, label_smoothing=0.0)
    mixed, lam = mix.mix_clip(clip, torch.Generator().manual_seed(0))
    assert 0.0 <= lam <= 1.0
    # sample i is paired with sample 3 - i (batch flipped)
    assert torch.allclose(mixed[0], lam * clip[0] + (1 - lam) * clip[3])
    targets = mix.mix_targets(torch.tensor([0, 1, 2, 3]), torch.zeros(4, 4), lam)
    assert targets[0, 0].item() == pytest.approx(lam) and targets[0, 3].item() == pytest.approx(1 - lam)
    assert torch.allclose(targets.sum(1), torch.ones(4))
    again, lam2 = mix.mix_clip(clip, torch.Generator().manual_seed(0))
    assert lam2 == lam and torch.equal(again, mixed)  # all randomness comes from the generator


def test_cutmix_lambda_is_kept_area_and_box_is_same_in_all_frames():
    clip = torch.zeros(2, 3, 4, 16, 16)
    clip[1] = 1.0
    mix = MixupCutmix(cutmix_alpha=1.0)
    for seed in range(5):
        mixed, lam = mix.mix_clip(clip, torch.Generator().manual_seed(seed))
        pasted = mixed[0, 0, 0]  # sample 0 got a box of sample 1 (ones)
        assert lam == pytest.approx(1 - pasted.sum().item() / 256)
        assert all(torch.equal(mixed[0, c, t], pasted) for c in range(3) for t in range(4))
        assert torch.equal(clip[0], torch.zeros(3, 4, 16, 16))  # input left untouched


def test_mix_targets_of_soft_labels_and_heads():
    mix = MixupCutmix(mixup_alpha=1.0, label_smoothing=0.1)
    soft = torch.tensor([[0.7, 0.3], [0.0, 1.0]])
    out = mix.mix_targets(soft, torch.zeros(2, 2), 0.25)  # soft targets are not smoothed again
    assert torch.allclose(out[0], 0.25 * soft[0] + 0.75 * soft[1])
    heads = mix.mix_targets({"verb": torch.tensor([0, 1])}, {"verb": torch.zeros(2, 3)}, 1.0)
    # lam = 1: smoothed one-hot: 0.1 / 3 off target, 0.9 + 0.1 / 3 on target
    assert torch.allclose(heads["verb"][0], torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]))
