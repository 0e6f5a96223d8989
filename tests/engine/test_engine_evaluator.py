"""Multi-view evaluation: softmax averaged over views, dataset order, heads, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vidstruct.engine.evaluator import evaluate, metrics, predict, view_probabilities
from vidstruct.engine.settings import EvalSettings
from vidstruct.errors import ShapeError
from vidstruct.eval.classification import epic_action_metrics


class MeanLogits(nn.Module):
    """logits = [m, 0, -m] with m = mean of each clip; a dict of two heads if ``heads``."""

    def __init__(self, heads: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor):
        m = x.mean(dim=(1, 2, 3, 4))
        logits = torch.stack([m, torch.zeros_like(m), -m], dim=1) + self.dummy
        return {"verb": logits, "noun": -logits} if self.heads else logits


class Views(Dataset):
    """Video i has 2 views with means 0 and (ln 2 if i is even else -ln 2); label i % 3."""

    def __init__(self, n: int, labelled: bool = True) -> None:
        self.n, self.labelled = n, labelled

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        second = math.log(2) if i % 2 == 0 else -math.log(2)
        clip = torch.stack([torch.zeros(3, 2, 4, 4), torch.full((3, 2, 4, 4), second)])  # [V=2, C, T, H, W]
        sample = {"clip": clip, "labels": {"verb": i % 3, "noun": 0}}
        if self.labelled:
            sample["label"] = i % 3
        return sample


def test_view_probabilities_average_softmax_by_hand():
    clip = torch.stack([torch.zeros(3, 2, 4, 4), torch.full((3, 2, 4, 4), math.log(2))])[None]  # [1, 2, C, T, H, W]
    p = view_probabilities(MeanLogits(), clip)
    # view 1: softmax(0, 0, 0) = 1/3 each; view 2: softmax(ln2, 0, -ln2) = (2, 1, 1/2) / 3.5 = (4/7, 2/7, 1/7)
    # mean: ((1/3 + 4/7) / 2, (1/3 + 2/7) / 2, (1/3 + 1/7) / 2) = (19/42, 13/42, 10/42)
    assert torch.allclose(p[0], torch.tensor([19 / 42, 13 / 42, 10 / 42]))
    single = view_probabilities(MeanLogits(), clip[:, 1])  # [B, C, T, H, W]: one view
    assert torch.allclose(single[0], torch.tensor([4 / 7, 2 / 7, 1 / 7]))
    with pytest.raises(ShapeError, match=r"\[B, V, C, T, H, W\]"):
        view_probabilities(MeanLogits(), torch.zeros(2, 3, 4))


def test_predict_dataset_order_targets_and_metrics():
    data = Views(7)
    preds = predict(MeanLogits(), data, settings=EvalSettings(batch_size=3, device="cpu"))
    np.testing.assert_array_equal(preds.indices, np.arange(7))
    np.testing.assert_array_equal(preds.targets, np.arange(7) % 3)
    # even videos: (19, 13, 10)/42 -> class 0; odd videos: mirror (10, 13, 19)/42 -> class 2
    np.testing.assert_array_equal(preds.probs.argmax(1), np.where(np.arange(7) % 2 == 0, 0, 2))
    m = metrics(preds)
    # labels 0 1 2 0 1 2 0, predictions 0 2 0 2 0 2 0 -> correct at 0, 5, 6 -> 3/7
    assert m["top1"] == pytest.approx(3 / 7)
    # per class recall: class 0 (videos 0, 3, 6): 2/3, class 1 (1, 4): 0/2, class 2 (2, 5): 1/2 -> mean 7/18
    assert m["mean_class_accuracy"] == pytest.approx(7 / 18)
    assert m["top5"] == 1.0


def test_iterable_of_batches_and_unlabelled_samples():
    loader = DataLoader(Views(4, labelled=False), batch_size=2)
    m, preds = evaluate(MeanLogits(), loader, settings=EvalSettings(device="cpu"))
    assert m == {}  # nothing labelled: no metrics
    np.testing.assert_array_equal(preds.targets, [-1, -1, -1, -1])
    assert preds.probs.shape == (4, 3)


def test_multi_head_model_gives_epic_metrics():
    m, preds = evaluate(MeanLogits(heads=True), Views(6), settings=EvalSettings(batch_size=4, device="cpu"))
    assert set(preds.probs) == {"verb", "noun"}
    expected = epic_action_metrics(
        preds.probs["verb"], preds.probs["noun"], preds.targets["verb"], preds.targets["noun"]
    )
    assert m == expected
    # verbs: labels 0 1 2 0 1 2, predictions 0 2 0 2 0 2 -> correct at 0, 5 -> 2/6
    assert m["verb_top1"] == pytest.approx(2 / 6)
