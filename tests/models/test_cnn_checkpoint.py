"""Model checkpoints: save / load round trip, head re-initialization report, wrong model and bad files."""

from __future__ import annotations

import logging

import pytest
import torch

from vidstruct.errors import CheckpointError, RegistryError
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import load_model_checkpoint, save_model_checkpoint
from vidstruct.models.convert import extract_state_dict, load_checkpoint_into
from vidstruct.models.spec import InputSpec


@pytest.fixture()
def tiny_ckpt(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build("r2plus1d_tiny", num_classes=4).eval()
    model.input_spec = InputSpec(num_frames=4, frame_interval=2, crop_size=64, short_side=72)
    path = save_model_checkpoint(
        tmp_path / "tiny.pt",
        model,
        model_name="r2plus1d_tiny",
        model_kwargs={"num_classes": 4},
        classes=["walk", "run", "jump", "sit"],
        source={"format": "test"},
    )
    return path, model


def test_round_trip_restores_weights_spec_and_classes(tiny_ckpt) -> None:
    path, model = tiny_ckpt
    raw = torch.load(path, weights_only=True)
    assert raw["model"] == "r2plus1d_tiny" and raw["classes"] == ["walk", "run", "jump", "sit"]
    assert raw["torch_version"] == str(torch.__version__)

    loaded, meta = load_model_checkpoint(path)
    assert not loaded.training
    assert meta["load_report"].exact and meta["classes"] == ["walk", "run", "jump", "sit"]
    assert loaded.input_spec == model.input_spec  # the checkpoint's preprocessing, not the builder default
    clip = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), model(clip), rtol=0, atol=0)


def test_other_number_of_classes_reinitializes_the_head_and_reports_it(tiny_ckpt, caplog) -> None:
    path, model = tiny_ckpt
    with caplog.at_level(logging.WARNING, logger="vidstruct.models.convert"):
        loaded, meta = load_model_checkpoint(path, num_classes=9)
    report = meta["load_report"]
    assert report.head_reinitialized and not report.exact
    assert [k for k, _, _ in report.mismatched] == ["head.fc.weight", "head.fc.bias"]
    assert report.mismatched[0][1:] == ((4, 128), (9, 128))
    assert report.loaded == len(model.state_dict()) - 2
    assert meta["classes"] is None  # the old names do not describe the new head
    assert "head re-initialized" in caplog.text
    clip = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.forward_features(clip), model.forward_features(clip))
        assert loaded(clip).shape == (1, 9)


def test_missing_head_keys_also_reinitialize(tiny_ckpt) -> None:
    _, model = tiny_ckpt
    backbone_only = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    target = MODELS.build("r2plus1d_tiny", num_classes=4)
    report = load_checkpoint_into(target, backbone_only)
    assert report.head_reinitialized and report.missing == ["head.fc.weight", "head.fc.bias"]


def test_non_strict_load_reports_missing_and_unexpected_keys(tiny_ckpt) -> None:
    _, model = tiny_ckpt
    state = dict(model.state_dict())
    state["stem.extra.weight"] = torch.zeros(1)
    del state["stages.3.0.bn_b.weight"]
    target = MODELS.build("r2plus1d_tiny", num_classes=4)
    with pytest.raises(CheckpointError, match=r"1 missing keys \(stages\.3\.0\.bn_b\.weight\).*1 unexpected"):
        load_checkpoint_into(target, state)
    report = load_checkpoint_into(target, state, strict=False)
    assert report.missing == ["stages.3.0.bn_b.weight"] and report.unexpected == ["stem.extra.weight"]
    assert not report.head_reinitialized
    torch.testing.assert_close(target.stem.conv_s.weight, model.stem.conv_s.weight)


def test_checkpoint_for_another_model_names_both_and_some_keys(tiny_ckpt) -> None:
    path, _ = tiny_ckpt
    with pytest.raises(CheckpointError) as info:
        load_model_checkpoint(path, expect_model="x3d_tiny")
    message = str(info.value)
    assert str(path) in message and "'r2plus1d_tiny'" in message and "'x3d_tiny'" in message
    assert "missing keys (stem.conv_s.weight" in message or "shape mismatches" in message
    with pytest.raises(RegistryError, match=r"unknown model 'x3d_tinny' \(did you mean 'x3d_tiny'"):
        load_model_checkpoint(path, expect_model="x3d_tinny")


def test_same_architecture_under_another_name_loads(tmp_path) -> None:
    model = MODELS.build("x3d_xs", num_classes=3)
    path = save_model_checkpoint(tmp_path / "xs.pt", model, model_name="x3d_xs", model_kwargs={"num_classes": 3})
    loaded, meta = load_model_checkpoint(path, expect_model="x3d_m")  # X3D-XS and X3D-M share weights
    assert meta["load_report"].exact and loaded.input_spec.num_frames == 16


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such checkpoint file"),
        (b"\x00garbage", "not a readable checkpoint"),
        ({"weights": torch.zeros(1)}, "not a vidstruct model checkpoint"),
    ],
)
def test_bad_files_raise_checkpoint_error(tmp_path, content, message: str) -> None:
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        load_model_checkpoint(path)


def test_class_names_must_match_the_head(tmp_path) -> None:
    model = MODELS.build("x3d_tiny", num_classes=3)
    with pytest.raises(CheckpointError, match="2 class names for a 3-class model"):
        save_model_checkpoint(tmp_path / "x.pt", model, model_name="x3d_tiny", classes=["a", "b"])


def test_extract_state_dict_unwraps_common_containers() -> None:
    tensors = {"module.a": torch.zeros(1), "module.b": torch.ones(2)}
    assert list(extract_state_dict({"model_state": tensors, "epoch": 3})) == ["a", "b"]
    assert list(extract_state_dict({"state_dict": {"x": torch.zeros(1)}})) == ["x"]
    with pytest.raises(CheckpointError, match="no state dict found"):
        extract_state_dict({"epoch": 3})
