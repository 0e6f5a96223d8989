"""TAdaConv2d against per-frame reference convolutions; calibration init; TAda2D models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidstruct.models import MODELS
from vidstruct.models.tada import TAdaBottleneck, TAdaConv2d, TemporalCalibration


def _per_frame_reference(conv: TAdaConv2d, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Loop over (b, t): conv2d of frame x[b, :, t] with the weight scaled by alpha[b, :, t] on its cal_dim axis."""
    samples = []
    for i in range(x.shape[0]):
        frames = []
        for j in range(x.shape[2]):
            a = alpha[i, :, j, 0, 0]
            scale = _cin_scale(a, conv) if conv.cal_dim == "cin" else a[:, None, None, None]
            y = F.conv2d(x[i : i + 1, :, j], conv.weight * scale, conv.bias, conv.stride, conv.padding, 1, conv.groups)
            frames.append(y)
        samples.append(torch.stack(frames, dim=2))
    return torch.cat(samples, dim=0)


def _cin_scale(a: torch.Tensor, conv: TAdaConv2d) -> torch.Tensor:
    """Per-output-filter input-channel scales [C_out, C_in/groups, 1, 1] for a grouped weight."""
    c_out, c_in_g = conv.weight.shape[:2]
    group_of_filter = torch.arange(c_out) // (c_out // conv.groups)
    idx = group_of_filter[:, None] * c_in_g + torch.arange(c_in_g)[None, :]
    return a[idx][:, :, None, None]


@pytest.mark.parametrize(
    ("cal_dim", "groups", "stride", "bias"),
    [("cin", 1, 1, False), ("cin", 2, 2, True), ("cout", 1, 2, True)],
)
def test_tadaconv_equals_per_frame_scaled_weights(cal_dim: str, groups: int, stride: int, bias: bool) -> None:
    torch.manual_seed(0)
    conv = TAdaConv2d(4, 6, 3, stride=stride, padding=1, groups=groups, bias=bias, cal_dim=cal_dim)
    x = torch.randn(2, 4, 3, 9, 9)
    alpha = 1 + 0.5 * torch.randn(2, 4 if cal_dim == "cin" else 6, 3, 1, 1)
    out = conv(x, alpha)
    ref = _per_frame_reference(conv, x, alpha)
    assert out.shape == ref.shape == (2, 6, 3, 9 // stride + (9 % stride > 0), 9 // stride + (9 % stride > 0))
    assert torch.allclose(out, ref, atol=1e-5)


def test_zero_init_calibration_gives_plain_per_frame_conv() -> None:
    torch.manual_seed(0)
    conv = TAdaConv2d(4, 5, 3, padding=1)
    calib = TemporalCalibration(4).eval()
    x = torch.randn(2, 4, 5, 8, 8)
    alpha = calib(x)
    assert alpha.shape == (2, 4, 5, 1, 1) and torch.equal(alpha, torch.ones_like(alpha))
    plain = F.conv2d(x.transpose(1, 2).reshape(10, 4, 8, 8), conv.weight, padding=1)
    plain = plain.reshape(2, 5, 5, 8, 8).transpose(1, 2)
    assert torch.allclose(conv(x, alpha), plain, atol=1e-6)


def test_calibration_uses_temporal_context() -> None:
    torch.manual_seed(0)
    calib = TemporalCalibration(8, reduction=2).eval()
    torch.nn.init.normal_(calib.b.weight, std=0.5)  # trained calibration
    x = torch.randn(1, 8, 6, 4, 4)
    alpha = calib(x)
    x2 = x.clone()
    x2[:, :, 5] += 3.0  # change only the last frame
    alpha2 = calib(x2)
    # kernel-3 local convs twice: frames 3..5 feel the change locally; the global branch reaches every frame
    assert not torch.allclose(alpha[:, :, 0], alpha2[:, :, 0])
    assert alpha.shape == (1, 8, 6, 1, 1)


def test_bottleneck_starts_as_plain_2d_block() -> None:
    """With α = 1 and the zero-initialized aggregation BN, frames do not interact at initialization."""
    torch.manual_seed(0)
    block = TAdaBottleneck(16, 4, stride=2).eval()
    x = torch.randn(1, 16, 4, 8, 8)
    x2 = x.clone()
    x2[:, :, 0] = torch.randn(16, 8, 8)
    y, y2 = block(x), block(x2)
    assert y.shape == (1, 16, 4, 4, 4)
    assert torch.allclose(y[:, :, 1:], y2[:, :, 1:], atol=1e-6)  # frames 1.. unchanged by frame 0
    with torch.no_grad():
        block.b_avgpool_bn.weight.fill_(1.0)
    assert not torch.allclose(block(x)[:, :, 1], block(x2)[:, :, 1], atol=1e-6)  # aggregation mixes neighbours


def test_tada2d_tiny_forward_and_maps() -> None:
    torch.manual_seed(0)
    model = MODELS.build("tada2d_tiny", num_classes=7).train()
    x = torch.randn(2, 3, 4, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 7)
    assert model.forward_feature_maps(x).shape == (2, 256, 4, 2, 2)  # width 8 x 8 x expansion 4
    assert model.forward_features(x).shape == (2, model.feature_dim) == (2, 256)
    logits.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    model.reset_head(3)
    assert model.eval()(x).shape == (2, 3)


def test_tada2d_r50_size_matches_paper() -> None:
    with torch.device("meta"):
        model = MODELS.build("tada2d_r50")
    # Huang et al. (ICLR 2022), Table: TAda2D-R50 has 27.5M parameters (ResNet-50 TSN: 24.3M)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 27.5
    assert (model.input_spec.num_frames, model.input_spec.crop_size) == (8, 224)
    assert model.feature_dim == 2048
