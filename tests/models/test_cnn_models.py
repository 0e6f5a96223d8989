"""Registered CNNs (ResNet3D family, SlowFast, X3D): shapes, input checks, heads, memory format, autocast."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import ShapeError
from vidstruct.models import MODELS
from vidstruct.models.base import VideoModel
from vidstruct.models.resnet3d import ResNet3D, SlowFast

# name → (frames T of the test clip, feature map shape(s) [D, T', H', W'] at 32×32, pooled feature_dim).
# Clips are small (32 px) to keep CPU time low; the architectures are the registered defaults.
CNNS: dict[str, tuple[int, list[tuple[int, ...]], int]] = {
    "slow_r50": (4, [(2048, 4, 1, 1)], 2048),
    "i3d_r50": (4, [(2048, 2, 1, 1)], 2048),  # temporal max pool after res2
    "slowfast_r50": (8, [(2048, 2, 1, 1), (256, 8, 1, 1)], 2304),  # slow = every 4th frame
    "slowfast_r50_4x16": (8, [(2048, 1, 1, 1), (256, 8, 1, 1)], 2304),  # slow = every 8th frame
    "slowfast_r101": (8, [(2048, 2, 1, 1), (256, 8, 1, 1)], 2304),
    "csn_r101": (8, [(2048, 1, 1, 1)], 2048),  # temporal stride 2 in res3-res5
    "ircsn_r50": (8, [(2048, 1, 1, 1)], 2048),
    "ircsn_r152": (8, [(2048, 1, 1, 1)], 2048),
    "ipcsn_r50": (8, [(2048, 1, 1, 1)], 2048),
    "ipcsn_r101": (8, [(2048, 1, 1, 1)], 2048),
    "ipcsn_r152": (8, [(2048, 1, 1, 1)], 2048),
    "r2plus1d_r18": (8, [(512, 1, 2, 2)], 512),  # no stem pool; spatiotemporal stride 2 in res3-res5
    "r2plus1d_r34": (8, [(512, 1, 2, 2)], 512),
    "r2plus1d_r50": (8, [(2048, 2, 1, 1)], 2048),  # temporal stride 2 in res4, res5
    "r2plus1d_tiny": (8, [(128, 1, 2, 2)], 128),
    "x3d_xs": (4, [(432, 4, 1, 1)], 2048),  # conv5 map; pooled → 2048-d projection
    "x3d_s": (4, [(432, 4, 1, 1)], 2048),
    "x3d_m": (4, [(432, 4, 1, 1)], 2048),
    "x3d_l": (4, [(432, 4, 1, 1)], 2048),
    "x3d_tiny": (4, [(216, 4, 1, 1)], 256),
}

# defaults of the PyTorchVideo model zoo: (frames, interval, crop)
ZOO_INPUTS = {
    "slowfast_r50": (32, 2, 224),
    "slow_r50": (8, 8, 224),
    "i3d_r50": (8, 8, 224),
    "x3d_xs": (4, 12, 182),
    "x3d_s": (13, 6, 182),
    "x3d_m": (16, 5, 224),
    "x3d_l": (16, 5, 312),
    "csn_r101": (32, 2, 224),
    "r2plus1d_r50": (16, 4, 224),
}


def test_every_registered_cnn_is_covered() -> None:
    modules = {"vidstruct.models.resnet3d.builders", "vidstruct.models.x3d"}
    cnn_names = {name for name in MODELS.names() if MODELS.get(name).__module__ in modules}
    assert cnn_names == set(CNNS)


@pytest.mark.parametrize("name", sorted(CNNS))
def test_forward_shapes(name: str) -> None:
    torch.manual_seed(0)
    frames, map_shapes, feature_dim = CNNS[name]
    model = MODELS.build(name, num_classes=7, dropout=0.1).eval()
    assert isinstance(model, VideoModel)
    clip = torch.randn(2, 3, frames, 32, 32)
    with torch.no_grad():
        maps = model.forward_feature_maps(clip)
        features = model.forward_features(clip)
        logits = model(clip)
    maps = maps if isinstance(maps, list) else [maps]
    assert [tuple(m.shape) for m in maps] == [(2, *s) for s in map_shapes]
    assert features.shape == (2, feature_dim) and model.feature_dim == feature_dim
    assert logits.shape == (2, 7) and model.num_classes == 7
    assert torch.isfinite(logits).all()
    # pooled features are the global average of the final map(s) (X3D adds its projection after pooling)
    if not name.startswith("x3d"):
        torch.testing.assert_close(features, torch.cat([m.mean(dim=(2, 3, 4)) for m in maps], dim=1))

    model.reset_head(3)
    with torch.no_grad():
        new_logits = model(clip)
    assert new_logits.shape == (2, 3) and model.num_classes == 3
    torch.testing.assert_close(model.forward_features(clip), features)  # backbone untouched


@pytest.mark.parametrize(("name", "zoo"), sorted(ZOO_INPUTS.items()))
def test_default_inputs_follow_the_pytorchvideo_zoo(name: str, zoo: tuple[int, int, int]) -> None:
    with torch.device("meta"):
        spec = MODELS.build(name).input_spec
    assert (spec.num_frames, spec.frame_interval, spec.crop_size) == zoo
    assert spec.mean == (0.45, 0.45, 0.45) and spec.std == (0.225, 0.225, 0.225)
    assert spec.target_fps == 30.0


def test_slowfast_input_spec_carries_alpha_and_short_side() -> None:
    with torch.device("meta"):
        spec = MODELS.build("slowfast_r50").input_spec
        spec_4x16 = MODELS.build("slowfast_r50_4x16").input_spec
    assert spec.short_side == 256 and spec.extra == {"alpha": 4}
    assert spec_4x16.extra == {"alpha": 8} and spec_4x16.num_frames == 32


def test_slowfast_slow_pathway_is_temporal_stride_of_the_input() -> None:
    """Changing only frames the slow pathway does not see (odd ones, alpha=2) changes only the fast pathway."""
    torch.manual_seed(0)
    model = MODELS.build("slowfast_r50", width=16, depths=(1, 1, 1, 1), alpha=2, beta_inv=4).eval()
    clip = torch.randn(1, 3, 8, 32, 32)
    other = clip.clone()
    other[:, :, 1::2] = torch.randn_like(other[:, :, 1::2])
    with torch.no_grad():
        stem_slow = model.slow.stem(clip[:, :, ::2])
        stem_slow_other = model.slow.stem(other[:, :, ::2])
        fast, fast_other = model.fast.stem(clip), model.fast.stem(other)
    torch.testing.assert_close(stem_slow, stem_slow_other)
    assert not torch.allclose(fast, fast_other)


def test_small_variants_from_keyword_knobs() -> None:
    model = MODELS.build("csn_r101", width=8, depths=(1, 1, 1, 1), num_classes=5).eval()
    assert isinstance(model, ResNet3D)
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert model(torch.randn(1, 3, 8, 32, 32)).shape == (1, 5)
    x3d = MODELS.build("x3d_m", width_factor=1.0, depth_factor=1.0, num_classes=5)
    assert [s.depth for s in x3d.cfg.stages] == [1, 2, 5, 3]


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (torch.zeros(1, 8, 32, 32, 3), "channels-last"),  # [B, T, H, W, C] decoded-frame layout
        (torch.zeros(3, 8, 32, 32), "expected 5 dims"),
        (torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8), "expected a float tensor"),
        (torch.zeros(1, 1, 8, 32, 32), "expected 3 channels"),
    ],
)
def test_wrong_clip_layout_raises_shape_error(clip: torch.Tensor, message: str) -> None:
    model = MODELS.build("r2plus1d_tiny")
    with pytest.raises(ShapeError, match=message):
        model(clip)
    slowfast = MODELS.build("slowfast_r50", width=16, depths=(1, 1, 1, 1), beta_inv=4)
    assert isinstance(slowfast, SlowFast)
    with pytest.raises(ShapeError, match=message):
        slowfast(clip)


@pytest.mark.parametrize("name", ["x3d_m", "slowfast_r50", "r2plus1d_tiny"])
def test_channels_last_3d_gives_the_same_logits(name: str) -> None:
    torch.manual_seed(0)
    kwargs = {"width": 16, "depths": (1, 1, 1, 1), "beta_inv": 4} if name.startswith("slowfast") else {}
    model = MODELS.build(name, **kwargs).eval()
    clip = torch.randn(2, 3, 8, 48, 48)
    with torch.no_grad():
        expected = model(clip)
        model_cl = model.to(memory_format=torch.channels_last_3d)
        got = model_cl(clip.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_bf16_autocast_runs_and_stays_close() -> None:
    torch.manual_seed(0)
    model = MODELS.build("x3d_tiny", num_classes=10).eval()
    clip = torch.randn(2, 3, 4, 48, 48)
    with torch.no_grad():
        expected = model.forward_features(clip)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            features = model.forward_features(clip)
            logits = model(clip)
    assert logits.shape == (2, 10) and torch.isfinite(logits.float()).all()
    assert features.dtype == torch.bfloat16
    assert (features.float() - expected).abs().max() <= 0.05 * expected.abs().max()


def test_tiny_models_learn_a_batch() -> None:
    """A few SGD steps fit 4 clips of 2 classes: the tiny models are trainable on CPU."""
    torch.manual_seed(0)
    for name in ("r2plus1d_tiny", "x3d_tiny"):
        model = MODELS.build(name, num_classes=2, dropout=0.0)
        clips = torch.randn(4, 3, 4, 32, 32)
        labels = torch.tensor([0, 1, 0, 1])
        clips[labels == 1] += 1.0
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        for _ in range(25):
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            assert (model(clips).argmax(1) == labels).all(), name


def test_unknown_model_name_lists_close_matches(capsys) -> None:
    from vidstruct.cli.main import main

    assert main(["models", "info", "slowfast_r5O"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model 'slowfast_r5O' (did you mean 'slowfast_r50'" in err


def test_max_pool_takes_the_maximum_of_the_final_map():
    torch.manual_seed(0)
    model = MODELS.get("r2plus1d_tiny")(num_classes=5, widths=[4, 8, 8, 8], pool="max").eval()
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        maps = model.forward_feature_maps(clip)
        expected = torch.stack([maps[b].reshape(maps.shape[1], -1).max(dim=1).values for b in range(2)])
        torch.testing.assert_close(model.forward_features(clip), expected)
        # and is not the (default) average
        assert not torch.allclose(model.forward_features(clip), maps.mean(dim=(2, 3, 4)))
    with pytest.raises(ValueError, match="pool"):
        MODELS.get("r2plus1d_tiny")(num_classes=5, pool="sum")
