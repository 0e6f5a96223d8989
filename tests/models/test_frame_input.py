"""Frame-difference input modes of the ResNet3D family (``input_mode``: rgb / diff / rgb_diff)."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import ShapeError
from vidstruct.models import MODELS
from vidstruct.models.resnet3d.frame_input import FrameInput, frame_differences

SMALL = {"num_classes": 5, "widths": [4, 8, 8, 8]}


def test_frame_differences_by_hand() -> None:
    # one pixel, one channel, frames 1, 4, 9, 16 → differences 0 (no predecessor), 3, 5, 7
    x = torch.tensor([1.0, 4.0, 9.0, 16.0]).reshape(1, 1, 4, 1, 1)
    assert frame_differences(x).flatten().tolist() == [0.0, 3.0, 5.0, 7.0]
    two = torch.stack([x, 2 * x], dim=1).reshape(1, 2, 4, 1, 1)  # channels are independent
    assert frame_differences(two)[0, 1].flatten().tolist() == [0.0, 6.0, 10.0, 14.0]


def test_rgb_diff_stacks_clip_and_differences() -> None:
    x = torch.randn(2, 3, 5, 4, 4)
    out = FrameInput("rgb_diff")(x)
    assert out.shape == (2, 6, 5, 4, 4)
    torch.testing.assert_close(out[:, :3], x)
    torch.testing.assert_close(out[:, 3:, 2], x[:, :, 2] - x[:, :, 1])
    assert FrameInput("rgb")(x) is x


@pytest.mark.parametrize("name", ["r2plus1d_tiny", "x3d_tiny"])
def test_diff_mode_cannot_see_a_still_scene(name: str) -> None:
    """With differences only, any two static clips look the same (zero input); with RGB they do not."""
    kwargs = SMALL if name == "r2plus1d_tiny" else {"num_classes": 5, "width_factor": 0.25, "head_width": 16}
    a = torch.randn(1, 3, 1, 32, 32).expand(1, 3, 4, 32, 32)  # one frame held for 4 frames
    b = torch.randn(1, 3, 1, 32, 32).expand(1, 3, 4, 32, 32)
    moving = torch.randn(1, 3, 4, 32, 32)
    for mode, same in (("diff", True), ("rgb", False)):
        torch.manual_seed(0)
        model = MODELS.build(name, input_mode=mode, **kwargs).eval()
        with torch.no_grad():
            la, lb, lm = model(a), model(b), model(moving)
        assert torch.allclose(la, lb, atol=1e-6) is same, mode
        assert not torch.allclose(la, lm, atol=1e-4), mode


def test_rgb_diff_stem_takes_six_channels_but_the_clip_stays_rgb() -> None:
    model = MODELS.build("r2plus1d_tiny", input_mode="rgb_diff", **SMALL)
    assert model.stem.conv_s.in_channels == 6 and model.in_channels == 3
    assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, 5)
    with pytest.raises(ShapeError, match="expected 3 channels"):
        model(torch.randn(2, 6, 4, 32, 32))


def test_diff_mode_has_the_rgb_parameters() -> None:
    """``diff`` adds no parameters: an RGB checkpoint's tensors fit (and vice versa)."""
    rgb = MODELS.build("r2plus1d_tiny", **SMALL)
    diff = MODELS.build("r2plus1d_tiny", input_mode="diff", **SMALL)
    assert {k: v.shape for k, v in rgb.state_dict().items()} == {k: v.shape for k, v in diff.state_dict().items()}


def test_unknown_input_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="input_mode: expected one of rgb, diff, rgb_diff, got 'flow'"):
        MODELS.build("r2plus1d_tiny", input_mode="flow", **SMALL)
