"""Classification losses: hard, smoothed and soft targets, per-head sums (mixing: tests/data/test_transforms.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vidstruct.data.transforms.mix import smooth_targets
from vidstruct.engine.losses import batch_targets, classification_loss
from vidstruct.errors import InputError


def test_soft_cross_entropy_equals_torch_label_smoothing():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 1])
    hard = classification_loss(logits, labels, label_smoothing=0.1)
    soft = classification_loss(logits, smooth_targets(labels, 3, 0.1))
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
