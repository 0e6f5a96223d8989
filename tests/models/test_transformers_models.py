"""ViViT (joint / factorised encoder / factorised self-attention) and TimeSformer: shapes, sizes, input resizing."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import InputError, ShapeError
from vidstruct.models import MODELS
from vidstruct.models.base import VideoModel

TINY = dict(image_size=32, num_frames=8, hidden_size=32, depth=2, num_heads=2, num_classes=5)
TINY_KW = {
    "vivit_b_joint": dict(TINY, tubelet_size=(2, 16, 16)),
    "vivit_b_fe": dict(TINY, tubelet_size=(2, 16, 16), temporal_depth=1),
    "vivit_b_fsa": dict(TINY, tubelet_size=(2, 16, 16)),
    "timesformer_b": dict(TINY, patch_size=16),
}
NAMES = sorted(TINY_KW)


def _tiny(name: str) -> VideoModel:
    torch.manual_seed(0)
    return MODELS.build(name, **TINY_KW[name]).eval()


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_and_all_parameters_trained(name: str) -> None:
    model = _tiny(name).train()
    x = torch.randn(2, 3, 8, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 5)
    assert model.forward_features(x).shape == (2, model.feature_dim) == (2, 32)
    logits.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    model.reset_head(3)
    assert model.eval()(x).shape == (2, 3) and model.num_classes == 3


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_shape_or_input_error(name: str) -> None:
    model = _tiny(name)
    with pytest.raises(ShapeError, match="channels"):
        model(torch.randn(1, 8, 32, 32, 3))
    with pytest.raises(InputError, match="not divisible"):
        model(torch.randn(1, 3, 8, 40, 40))


def test_default_input_specs() -> None:
    with torch.device("meta"):
        vivit, tsf = MODELS.build("vivit_b_joint"), MODELS.build("timesformer_b")
    assert (vivit.input_spec.num_frames, vivit.input_spec.crop_size) == (32, 224)
    assert vivit.input_spec.mean == (0.5, 0.5, 0.5) and vivit.input_spec.std == (0.5, 0.5, 0.5)
    assert vivit.patch_embed.tubelet_size == (2, 16, 16)
    assert (tsf.input_spec.num_frames, tsf.input_spec.crop_size) == (8, 224)
    assert tsf.input_spec.mean == (0.485, 0.456, 0.406) and tsf.input_spec.std == (0.229, 0.224, 0.225)


def test_parameter_counts_match_hugging_face() -> None:
    from transformers import (
        TimesformerConfig,
        TimesformerForVideoClassification,
        VivitConfig,
        VivitForVideoClassification,
    )

    with torch.device("meta"):  # default (base) configs: construct only
        assert _params(MODELS.build("vivit_b_joint")) == _params(
            VivitForVideoClassification(VivitConfig(num_labels=400))
        )
        assert _params(MODELS.build("timesformer_b")) == _params(
            TimesformerForVideoClassification(TimesformerConfig(num_labels=400))
        )
    hf_vivit = VivitForVideoClassification(
        VivitConfig(
            image_size=32,
            num_frames=8,
            tubelet_size=[2, 16, 16],
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            num_labels=5,
        )
    )
    assert _params(_tiny("vivit_b_joint")) == _params(hf_vivit)
    hf_tsf = TimesformerForVideoClassification(
        TimesformerConfig(
            image_size=32,
            num_frames=8,
            patch_size=16,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            num_labels=5,
        )
    )
    assert _params(_tiny("timesformer_b")) == _params(hf_tsf)


def _block_params(d: int, mlp: int) -> int:
    """Pre-norm block: qkv (3d² + 3d) + proj (d² + d) + 2 LayerNorms (4d) + fc1 (d·mlp + mlp) + fc2 (mlp·d + d)."""
    return 4 * d * d + 4 * d + 4 * d + 2 * d * mlp + mlp + d


def test_factorised_variants_parameter_counts_by_hand() -> None:
    d, mlp, classes = 32, 128, 5
    embed = 3 * 2 * 16 * 16 * d + d  # Conv3d tubelet 2x16x16
    head = d * classes + classes
    # model 2: spatial CLS + pos (1 + 2·2), 2 spatial blocks + LN; temporal CLS + pos (1 + 4), 1 block + LN
    fe = embed + d + 5 * d + 2 * _block_params(d, mlp) + 2 * d + d + 5 * d + _block_params(d, mlp) + 2 * d + head
    assert _params(_tiny("vivit_b_fe")) == fe
    # model 3: pos over 4·2·2 tokens (no CLS); each block adds a second attention and its LayerNorm
    fsa_block = _block_params(d, mlp) + (4 * d * d + 4 * d) + 2 * d
    assert _params(_tiny("vivit_b_fsa")) == embed + 16 * d + 2 * fsa_block + 2 * d + head


@pytest.mark.parametrize("name", NAMES)
def test_other_frame_counts_and_resolutions(name: str) -> None:
    """Built for 8 frames / 32 px; runs on 4 frames / 48 px by interpolating, on the fly or permanently."""
    model = _tiny(name)
    x = torch.randn(1, 3, 4, 48, 48)
    with torch.no_grad():
        on_the_fly = model(x)
        same = model(torch.randn(1, 3, 8, 32, 32))
    assert on_the_fly.shape == (1, 5) and torch.isfinite(on_the_fly).all()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.resize_input(num_frames=8, image_size=32)  # same size: identity
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    model.resize_input(num_frames=4, image_size=48)
    assert (model.input_spec.num_frames, model.input_spec.crop_size) == (4, 48)
    with torch.no_grad():
        assert torch.allclose(model(x), on_the_fly, atol=1e-5)
    assert same.shape == (1, 5)


def test_vivit_resize_changes_position_embedding_shape() -> None:
    model = _tiny("vivit_b_joint")
    cls_pos = model.pos_embed[:, :1].detach().clone()
    model.resize_input(num_frames=4, image_size=48)
    assert model.pos_embed.shape == (1, 1 + 2 * 3 * 3, 32)  # tubelet 2x16x16: 2 x 3 x 3 tokens + CLS
    assert torch.equal(model.pos_embed[:, :1], cls_pos)
    assert model.pos_embed.requires_grad


def test_timesformer_resize_changes_time_embedding() -> None:
    model = _tiny("timesformer_b")
    model.resize_input(num_frames=4, image_size=48)
    assert model.time_embed.shape == (1, 4, 32) and model.pos_embed.shape == (1, 1 + 9, 32)
