"""Parameter counts and FLOPs of the CNNs vs published figures and reference implementations."""

from __future__ import annotations

import json

import pvshim
import pytest
import torch
import torchvision

from vidstruct.cli.main import main
from vidstruct.models import MODELS
from vidstruct.models.info import count_flops, model_info

# PyTorchVideo model zoo "Params (M)" column (400 classes)
PUBLISHED_M = {
    "slowfast_r50": 34.57,
    "slowfast_r50_4x16": 34.48,
    "slowfast_r101": 62.83,
    "slow_r50": 32.45,
    "i3d_r50": 28.04,
    "x3d_xs": 3.79,
    "x3d_s": 3.79,
    "x3d_m": 3.79,
    "x3d_l": 6.15,
    "csn_r101": 22.21,
    "r2plus1d_r50": 28.11,
}

# our name → (PyTorchVideo hub builder, extra kwargs)
PV_SAME = {
    "slow_r50": ("slow_r50", {}),
    "i3d_r50": ("i3d_r50", {}),
    "slowfast_r50": ("slowfast_r50", {}),
    "slowfast_r101": ("slowfast_r101", {}),
    "x3d_xs": ("x3d_xs", {}),
    "x3d_s": ("x3d_s", {}),
    "x3d_m": ("x3d_m", {}),
    "x3d_l": ("x3d_l", {}),
    "csn_r101": ("csn_r101", {}),
    "r2plus1d_r50": ("r2plus1d_r50", {}),
}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _meta_build(name: str, **kwargs: object) -> torch.nn.Module:
    with torch.device("meta"):
        return MODELS.build(name, **kwargs)


@pytest.mark.parametrize(("name", "millions"), sorted(PUBLISHED_M.items()))
def test_parameter_count_matches_published(name: str, millions: float) -> None:
    assert _params(_meta_build(name)) == pytest.approx(millions * 1e6, rel=0.005)


@pytest.mark.parametrize("name", sorted(PV_SAME))
def test_same_parameters_as_pytorchvideo(name: str) -> None:
    """Exact equality of the parameter count and of every tensor shape (after key conversion)."""
    from vidstruct.models.convert import get_converter

    hub_name, kwargs = PV_SAME[name]
    with torch.device("meta"):
        reference = pvshim.build_reference(hub_name, model_num_class=101, **kwargs)
    ours = _meta_build(name, num_classes=101)
    assert _params(ours) == _params(reference)
    converted = get_converter("pytorchvideo", name).fn(reference.state_dict())
    assert {k: tuple(v.shape) for k, v in converted.items()} == {
        k: tuple(v.shape) for k, v in ours.state_dict().items()
    }


def test_slowfast_4x16_matches_pytorchvideo_with_its_fusion_settings() -> None:
    pvshim.hub()
    from pytorchvideo.models.slowfast import create_slowfast

    with torch.device("meta"):
        reference = create_slowfast(slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1))
    assert _params(_meta_build("slowfast_r50_4x16")) == _params(reference) == 34_480_216


def _torchvision_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision VideoResNet (R(2+1)D) keys → ours (test-local mapping)."""
    stem = {"stem.0.": "stem.conv_s.", "stem.1.": "stem.bn_s.", "stem.3.": "stem.conv_t.", "stem.4.": "stem.bn."}
    inner = {
        "conv1.0.0.": "conv_a.conv_s.",
        "conv1.0.1.": "conv_a.bn.",
        "conv1.0.3.": "conv_a.conv_t.",
        "conv1.1.": "bn_a.",
        "conv2.0.0.": "conv_b.conv_s.",
        "conv2.0.1.": "conv_b.bn.",
        "conv2.0.3.": "conv_b.conv_t.",
        "conv2.1.": "bn_b.",
        "downsample.0.": "shortcut.conv.",
        "downsample.1.": "shortcut.bn.",
    }
    out = {}
    for key, value in state.items():
        if key.startswith("fc."):
            out["head." + key] = value
        elif key.startswith("stem."):
            src = next(s for s in stem if key.startswith(s))
            out[stem[src] + key[len(src) :]] = value
        else:
            layer, block, rest = key.split(".", 2)
            src = next(s for s in inner if rest.startswith(s))
            out[f"stages.{int(layer[5:]) - 1}.{block}.{inner[src]}{rest[len(src) :]}"] = value
    return out


def test_r2plus1d_r18_equals_torchvision() -> None:
    """Same parameter count as torchvision's published r2plus1d_18 and the same logits with its weights."""
    torch.manual_seed(0)
    weights_meta = torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1.meta
    reference = pvshim.randomize_norms(torchvision.models.video.r2plus1d_18(num_classes=400)).eval()
    ours = MODELS.build("r2plus1d_r18").eval()
    assert _params(ours) == weights_meta["num_params"] == 31_505_325
    ours.load_state_dict(_torchvision_to_ours(reference.state_dict()))
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(clip), reference(clip), atol=1e-4, rtol=1e-5)


def test_flop_counter_counts_two_flops_per_multiply_add() -> None:
    conv = torch.nn.Conv3d(3, 8, (1, 3, 3), bias=False)
    # output 8 × 1 × 2 × 2 = 32 values, each 3·1·3·3 = 27 multiply-adds
    assert count_flops(conv, torch.zeros(1, 3, 1, 4, 4)) == 2 * 32 * 27


def test_model_info_x3d_m_matches_the_paper() -> None:
    info = model_info("x3d_m")
    assert info["params"] == 3_794_274
    # X3D paper, Table 4: X3D-M 4.73 GFLOPs (multiply-adds) at 16×224² per view
    assert info["gmacs"] == pytest.approx(4.73, rel=0.01)
    assert info["gflops"] == pytest.approx(2 * info["gmacs"], rel=1e-3)
    assert info["input"]["num_frames"] == 16 and info["input"]["crop_size"] == 224
    assert info["input_shape"] == [1, 3, 16, 224, 224]
    assert "2 FLOPs" in info["flop_counter"]


def test_model_info_r2plus1d_r18_matches_torchvision_ops() -> None:
    ops = torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1.meta["_ops"]  # GMACs at 16×112²
    info = model_info("r2plus1d_r18")
    assert info["input_shape"] == [1, 3, 16, 112, 112]
    assert info["gmacs"] == pytest.approx(ops, rel=0.002)


def test_models_info_cli_json(capsys) -> None:
    assert main(["models", "info", "slowfast_r50", "--json", "--num-classes", "10"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == 34_566_488 - 2305 * (400 - 10)  # head: 2304 weights + 1 bias per class
    assert info["input"]["num_frames"] == 32 and info["input"]["frame_interval"] == 2
    assert info["gmacs"] > 40 and info["flop_counter"].startswith("torch.utils.flop_counter.FlopCounterMode")


def test_info_of_a_feature_model_reports_params_without_flops() -> None:
    from vidstruct.models.info import model_info

    info = model_info("bmn")
    assert info["params"] > 0 and info["gflops"] is None and "does not take video clips" in info["note"]
