"""The two ways of localizing a feature store's video give the same segments.

Training-time validation reads a video as dataset items (``WindowedFeatureDataset`` windows, or the
``RescaledFeatureDataset`` grid), runs the model on batches of them and post-processes each
(:func:`vidstruct.engine.localization.evaluate.localize_dataset`); ``vidstruct localize`` cuts a video's
snippet features itself (:func:`vidstruct.pipeline.localization_chain.localize_video`), one window at a time.
Both must place every window at the same offset in the video and give identical proposals and detections.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lockit import write_store

from vidstruct.data.features import FeatureStore
from vidstruct.data.localization.datasets import (
    RescaledFeatureDataset,
    WindowedFeatureDataset,
    window_span,
    window_starts,
)
from vidstruct.data.records import Segment, UntrimmedVideo
from vidstruct.engine.localization.evaluate import localize_dataset
from vidstruct.models import MODELS
from vidstruct.models.localization.checkpoint import LocalizerBundle
from vidstruct.models.localization.spec import PostprocessSettings
from vidstruct.pipeline.localization_chain import localize_features, localize_video

CLASSES = ["jump", "run"]
BACKBONE_CLASSES = ["bg", "run", "jump"]
WINDOW_S, STRIDE_S = 1.0, 0.5  # snippets of 1 s every 0.5 s: a window's offset is s·0.5 + 0.25 s
T = 16
# snippet counts: shorter than a window (one padded window), on the stride grid, and off it (an extra last window)
LENGTHS = {"short": 11, "grid": 40, "off_grid": 45}


def test_window_span_by_hand() -> None:
    # snippet 8 starts at 4.0 s and is centred on 4.5 s; position j of the window covers [4.25 + 0.5 j, 4.75 + 0.5 j]
    assert window_span(8, T, STRIDE_S, WINDOW_S) == (4.25, 8.0)
    assert window_starts(45, T, 8) == [0, 8, 16, 24, 29]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    videos = {
        vid: (
            rng.standard_normal((n, 8)).astype(np.float32),
            rng.dirichlet(np.ones(len(BACKBONE_CLASSES)), size=n).astype(np.float32),
            n * STRIDE_S + WINDOW_S / 2,
        )
        for vid, n in LENGTHS.items()
    }
    return write_store(
        tmp_path_factory.mktemp("store"), videos, window_s=WINDOW_S, stride_s=STRIDE_S, classes=BACKBONE_CLASSES
    )


def _videos(store: FeatureStore) -> list[UntrimmedVideo]:
    # annotations do not change predictions; one segment each so that every window is a valid item
    return [
        UntrimmedVideo(vid, store.load(vid).duration_s, "validation", [Segment(1.0, 2.0, "run", 1)]) for vid in LENGTHS
    ]


def _bundle(mode: str) -> LocalizerBundle:
    torch.manual_seed(0)
    kwargs = dict(feat_dim=8, temporal_scale=T, max_duration=8, num_sample=4, num_sample_perbin=2,
                  hidden_dim_1d=8, hidden_dim_2d=8, hidden_dim_3d=8)  # fmt: skip
    meta = {"window_s": WINDOW_S, "stride_s": STRIDE_S, "feature_dim": 8, "temporal_scale": T, "mode": mode,
            "window_stride": T // 2, "backbone_classes": BACKBONE_CLASSES}  # fmt: skip
    post = PostprocessSettings(fusion="snippet", fusion_top_k=2, max_proposals=30, max_segments=20)
    return LocalizerBundle(MODELS.build("bmn", **kwargs).eval(), "bmn", CLASSES, meta, post, kwargs)


@pytest.mark.parametrize("mode", ["window", "rescale"])
def test_dataset_path_and_localize_path_give_the_same_segments(store: Path, mode: str) -> None:
    bundle = _bundle(mode)
    fs = FeatureStore(store)
    if mode == "window":
        dataset = WindowedFeatureDataset(fs, _videos(fs), CLASSES, window_size=T, window_stride=T // 2, train=False)
        assert len(dataset) == 1 + 4 + 5  # windows of the three videos (see test_window_span_by_hand)
    else:
        dataset = RescaledFeatureDataset(fs, _videos(fs), CLASSES, temporal_scale=T)
    validated = localize_dataset(
        bundle.model, "bmn", dataset, post=bundle.postprocess, class_map=bundle.class_map, batch_size=3
    )
    assert sorted(validated) == sorted(LENGTHS)
    for vid in LENGTHS:
        vf = fs.load(vid)
        direct = localize_video(bundle, vf)
        want = validated[vid]
        assert want.detections.shape[0] > 0 and want.proposals.shape[0] > 0
        np.testing.assert_allclose(direct.proposals, want.proposals, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(direct.detections, want.detections, rtol=1e-5, atol=1e-6)
        segments = localize_features(bundle, vf)
        assert [s.label for s in segments] == [CLASSES[int(c)] for c in want.detections[:, 3]]
        assert all(0.0 <= s.start_s < s.end_s <= vf.duration_s for s in segments)
