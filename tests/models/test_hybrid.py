"""Transformer-CNN hybrids: transformer head composed over a registered CNN's final feature map."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import ConfigError
from vidstruct.models import MODELS
from vidstruct.models.hybrid import HybridTransformer, merge_pathways, probe_backbone

HEAD = dict(hidden_size=16, depth=1, num_heads=2, dropout=0.0)


def test_merge_pathways_pools_and_concatenates() -> None:
    slow = torch.ones(1, 2, 2, 2, 2)
    fast = torch.arange(4.0).reshape(1, 1, 4, 1, 1).expand(1, 1, 4, 2, 2)  # frame t has value t
    merged = merge_pathways([slow, fast])
    assert merged.shape == (1, 3, 2, 2, 2)
    assert torch.equal(merged[:, :2], slow)
    assert torch.allclose(merged[0, 2, :, 0, 0], torch.tensor([0.5, 2.5]))  # fast frames averaged in pairs
    single = torch.randn(1, 3, 2, 2, 2)
    assert merge_pathways(single) is single


def test_probe_backbone_finds_map_shape_and_unused_classifier() -> None:
    (channels, t, h, w), unused = probe_backbone(lambda: MODELS.build("tada2d_tiny"))
    assert (channels, t, h, w) == (256, 4, 2, 2)  # 4 frames, 64 px / 32, width 8 x 8 x 4
    assert unused == {"head"}


@pytest.mark.parametrize("tokens", ["temporal", "spatiotemporal"])
def test_hybrid_over_tada2d(tokens: str) -> None:
    torch.manual_seed(0)
    model = MODELS.build("hybrid_transformer", backbone="tada2d_tiny", num_classes=6, tokens=tokens, **HEAD).train()
    assert isinstance(model, HybridTransformer)
    assert isinstance(model.backbone.head, torch.nn.Identity)  # unused CNN classifier removed
    assert model.head.grid == ((4, 1, 1) if tokens == "temporal" else (4, 2, 2))
    assert model.input_spec == model.backbone.input_spec
    x = torch.randn(2, 3, 4, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 6) and model.forward_features(x).shape == (2, 16)
    logits.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []  # DDP-safe: no unused parameters
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 8, 96, 96)).shape == (1, 6)  # other frame count / size
    model.reset_head(2)
    assert model(x).shape == (2, 2) and model.num_classes == 2


def test_backbone_without_feature_maps_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no forward_feature_maps"):
        MODELS.build("hybrid_transformer", backbone="vivit_b_joint", backbone_kwargs={"depth": 1})


TINY_BACKBONES = {  # registered hybrid → (tiny backbone kwargs, clip T, expected feature-map channels)
    "hybrid_csn_transformer": ({"width": 8, "depths": [1, 1, 1, 1]}, 8, 256),
    "hybrid_slowfast_transformer": ({"width": 8, "depths": [1, 1, 1, 1]}, 8, 256 + 32),
    "hybrid_r2plus1d_transformer": ({"width": 8, "depths": [1, 1, 1, 1]}, 8, 256),
    "hybrid_transformer": ({"width": 8, "depths": [1, 1, 1, 1]}, 4, 256),
}


@pytest.mark.parametrize("name", sorted(TINY_BACKBONES))
def test_registered_hybrids_forward(name: str) -> None:
    backbone_kwargs, frames, channels = TINY_BACKBONES[name]
    torch.manual_seed(0)
    model = MODELS.build(name, num_classes=3, backbone_kwargs=backbone_kwargs, **HEAD).eval()
    assert model.head.in_channels == channels  # SlowFast: slow 8·8·4 + fast 1·8·4 channels concatenated
    with torch.no_grad():
        assert model(torch.randn(1, 3, frames, 64, 64)).shape == (1, 3)


def test_loading_with_other_classes_keeps_transformer_layers() -> None:
    from vidstruct.models.convert import load_checkpoint_into

    kwargs = dict(backbone="tada2d_tiny", **HEAD)
    source = MODELS.build("hybrid_transformer", num_classes=5, **kwargs)
    target = MODELS.build("hybrid_transformer", num_classes=2, **kwargs)
    report = load_checkpoint_into(target, source.state_dict())
    assert report.head_reinitialized and target.head.fc.out_features == 2
    assert torch.equal(target.head.blocks[0].attn.qkv.weight, source.head.blocks[0].attn.qkv.weight)
    assert torch.equal(target.head.pos_embed, source.head.pos_embed)
