"""The post-processing chain: hand-checked fusion, rescaled and windowed inputs of ``localize_features``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vidstruct.data.features import VideoFeatures, rescale_features
from vidstruct.errors import InputError, ShapeError
from vidstruct.eval.localization.chain import decode_item
from vidstruct.models import MODELS
from vidstruct.models.localization.checkpoint import LocalizerBundle, load_localizer, save_localizer
from vidstruct.models.localization.spec import PostprocessSettings
from vidstruct.pipeline.localization_chain import localize_features


def hand_outputs() -> dict[str, torch.Tensor]:
    """T = D = 4: start candidates {0}, end candidates {2, 3} → proposals (t=0, d=2) score 0.25 and (0, 3) score 0."""
    return {
        "start": torch.tensor([[1.0, 0.0, 0.0, 0.0]]),
        "end": torch.tensor([[0.0, 0.0, 1.0, 0.0]]),
        "confidence": torch.full((1, 2, 4, 4), 0.5),
    }


PROBS = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])  # [T, K], positions centred on 1, 3, 5, 7 s


def test_snippet_fusion_averages_probabilities_inside_each_proposal() -> None:
    post = PostprocessSettings(fusion="snippet", fusion_top_k=2)
    loc = decode_item("bmn", hand_outputs(), 0, span_s=8.0, post=post, probs=PROBS)
    # proposal [0, 6] s (positions 0..2, mean [0.6, 0.4]) and [0, 8] s (score 0)
    assert loc.proposals[0].tolist() == pytest.approx([0.0, 6.0, 0.25])
    assert loc.proposals[1].tolist() == pytest.approx([0.0, 8.0, 0.0])
    np.testing.assert_allclose(loc.detections[:2], [[0.0, 6.0, 0.15, 0.0], [0.0, 6.0, 0.1, 1.0]], atol=1e-6)


def test_video_fusion_uses_the_video_mean_and_offsets_move_times() -> None:
    post = PostprocessSettings(fusion="video", fusion_top_k=1)
    loc = decode_item(
        "bmn", hand_outputs(), 0, span_s=8.0, offset_s=10.0, video_duration_s=17.0, post=post, probs=PROBS
    )
    # video probabilities [0.575, 0.425]: class 0 x 0.25; times + 10 s, the [10, 18] proposal clipped to 17 s
    assert loc.detections[0].tolist() == pytest.approx([10.0, 16.0, 0.14375, 0.0])
    np.testing.assert_allclose(loc.proposals[:, :2], [[10.0, 16.0], [10.0, 17.0]])


def test_fusion_needs_probabilities() -> None:
    with pytest.raises(InputError, match="probabilities"):
        decode_item("bmn", hand_outputs(), 0, span_s=8.0, post=PostprocessSettings(fusion="snippet"))


class MarkerBMN(nn.Module):
    """A stand-in BMN: start = feature channel 0, end = channel 1, confidence 0.9 everywhere (D = T)."""

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        B, _, T = feats.shape
        return {"start": feats[:, 0], "end": feats[:, 1], "confidence": torch.full((B, 2, T, T), 0.9)}


def test_window_mode_maps_window_proposals_back_to_video_time() -> None:
    # 40 snippets every 0.5 s (window 0.5 s); windows of T = 16 every 8: starts 0, 8, 16, 24
    feats = np.zeros((40, 2), np.float32)
    feats[30, 0] = 1.0  # an action from snippet 30 (15.0 s) ...
    feats[33, 1] = 1.0  # ... to the end of snippet 33 (17.0 s)
    centers = np.arange(40) * 0.5 + 0.25
    vf = VideoFeatures(feats, None, centers, 20.0, 0.5, 0.5)
    meta = {"window_s": 0.5, "stride_s": 0.5, "feature_dim": 2, "temporal_scale": 16, "mode": "window",
            "window_stride": 8}  # fmt: skip
    bundle = LocalizerBundle(MarkerBMN(), "bmn", ["act"], meta, PostprocessSettings(fusion="none"), {})
    segs = localize_features(bundle, vf)
    assert segs[0].label == "action"
    assert (segs[0].start_s, segs[0].end_s, segs[0].score) == pytest.approx((15.0, 17.0, 0.81))
    assert all(0.0 <= s.start_s < s.end_s <= 20.0 for s in segs)


def test_localize_features_on_a_saved_tiny_bmn(tmp_path: Path) -> None:
    torch.manual_seed(0)
    kwargs = dict(feat_dim=8, temporal_scale=16, max_duration=8, num_sample=4, num_sample_perbin=2,
                  hidden_dim_1d=8, hidden_dim_2d=8, hidden_dim_3d=8)  # fmt: skip
    model = MODELS.build("bmn", **kwargs)
    meta = {"window_s": 0.5, "stride_s": 0.5, "feature_dim": 8, "temporal_scale": 16, "mode": "rescale",
            "backbone_classes": ["bg", "b", "a"]}  # fmt: skip
    post = PostprocessSettings(fusion="snippet", fusion_top_k=1, max_segments=5)
    save_localizer(tmp_path / "l.pt", model, model_name="bmn", model_kwargs=kwargs, classes=["a", "b"],
                   features=meta, postprocess=post)  # fmt: skip
    bundle = load_localizer(tmp_path / "l.pt")
    assert bundle.class_map.tolist() == [2, 1]
    rng = np.random.default_rng(0)
    n = 25
    feats = rng.standard_normal((n, 8)).astype(np.float32)
    probs = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    vf = VideoFeatures(feats, probs, np.arange(n) * 0.5 + 0.25, 12.5, 0.5, 0.5)
    segs = localize_features(bundle, vf)
    assert 1 <= len(segs) <= 5
    assert [s.score for s in segs] == sorted((s.score for s in segs), reverse=True)
    assert all(s.label in ("a", "b") and 0.0 <= s.start_s < s.end_s <= 12.5 and 0 <= s.score <= 1 for s in segs)
    # the same video given as [C, T] grid features + [K, T] probabilities
    grid = rescale_features(feats, vf.centers_s, 12.5, 16).T
    grid_probs = rescale_features(probs, vf.centers_s, 12.5, 16).T
    assert localize_features(bundle, torch.from_numpy(grid), 12.5, probs=grid_probs) == segs
    with pytest.raises(ShapeError, match=r"\[C, T\] = \[8, 16\]"):
        localize_features(bundle, torch.zeros(8, 10), 12.5)
    with pytest.raises(InputError, match="probabilities"):
        localize_features(bundle, torch.from_numpy(grid), 12.5)
