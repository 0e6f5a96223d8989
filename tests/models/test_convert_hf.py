"""Hugging Face ViViT / TimeSformer → vidstruct: logits equal to HF's on random tiny models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import transformers  # test dependency: the reference implementations

from vidstruct.errors import CheckpointError
from vidstruct.models import MODELS
from vidstruct.models.convert.hf import (
    convert_hf_directory,
    convert_timesformer,
    convert_vivit,
    timesformer_kwargs_from_config,
    vivit_kwargs_from_config,
)

LABELS = {0: "archery", 1: "bowling", 2: "cooking", 3: "dancing", 4: "eating"}
TINY = dict(image_size=48, num_frames=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights everywhere (LayerNorms, CLS, position embeddings too) so that every mapping matters."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def hf_vivit() -> torch.nn.Module:
    cfg = transformers.VivitConfig(tubelet_size=[2, 16, 16], intermediate_size=64, id2label=LABELS, **TINY)
    return _randomize(transformers.VivitForVideoClassification(cfg))


@pytest.fixture(scope="module")
def hf_timesformer() -> torch.nn.Module:
    cfg = transformers.TimesformerConfig(patch_size=16, intermediate_size=64, id2label=LABELS, **TINY)
    return _randomize(transformers.TimesformerForVideoClassification(cfg))


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.randn(2, 3, 4, 48, 48, generator=torch.Generator().manual_seed(1))


def _hf_logits(model: torch.nn.Module, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(pixel_values=clip.transpose(1, 2)).logits  # HF takes [B, T, C, H, W]


def _ours(name: str, kwargs: dict, state_dict: dict) -> torch.nn.Module:
    model = MODELS.build(name, **kwargs).eval()
    model.load_state_dict(state_dict, strict=True)
    return model


def test_vivit_logits_match(hf_vivit: torch.nn.Module, clip: torch.Tensor) -> None:
    kwargs = vivit_kwargs_from_config(hf_vivit.config.to_dict())
    assert kwargs["activation"] == "gelu_tanh" and kwargs["tubelet_size"] == (2, 16, 16) and kwargs["num_classes"] == 5
    ours = _ours("vivit_b_joint", kwargs, convert_vivit(hf_vivit.state_dict()))
    with torch.no_grad():
        diff = (ours(clip) - _hf_logits(hf_vivit, clip)).abs().max().item()
    assert diff <= 1e-4


def test_timesformer_logits_match(hf_timesformer: torch.nn.Module, clip: torch.Tensor) -> None:
    kwargs = timesformer_kwargs_from_config(hf_timesformer.config.to_dict())
    ours = _ours("timesformer_b", kwargs, convert_timesformer(hf_timesformer.state_dict()))
    with torch.no_grad():
        diff = (ours(clip) - _hf_logits(hf_timesformer, clip)).abs().max().item()
    assert diff <= 1e-4


def _to_v4_names(sd: dict) -> dict:
    """transformers 5 ViViT key names → the 4.x names the Hub checkpoints were saved with."""
    rules = [
        (r"\.layers\.(\d+)\.attention\.q_proj\.", r".encoder.layer.\1.attention.attention.query."),
        (r"\.layers\.(\d+)\.attention\.k_proj\.", r".encoder.layer.\1.attention.attention.key."),
        (r"\.layers\.(\d+)\.attention\.v_proj\.", r".encoder.layer.\1.attention.attention.value."),
        (r"\.layers\.(\d+)\.attention\.o_proj\.", r".encoder.layer.\1.attention.output.dense."),
        (r"\.layers\.(\d+)\.mlp\.fc1\.", r".encoder.layer.\1.intermediate.dense."),
        (r"\.layers\.(\d+)\.mlp\.fc2\.", r".encoder.layer.\1.output.dense."),
        (r"\.layers\.(\d+)\.", r".encoder.layer.\1."),
    ]
    out = {}
    for k, v in sd.items():
        for pattern, repl in rules:
            new = re.sub(pattern, repl, k)
            if new != k:
                k = new
                break
        out[k] = v
    return out


def test_vivit_transformers_4_key_names(hf_vivit: torch.nn.Module) -> None:
    sd = hf_vivit.state_dict()
    old = _to_v4_names(sd)
    assert "vivit.encoder.layer.1.attention.attention.query.weight" in old
    new, from_old = convert_vivit(sd), convert_vivit(old)
    assert new.keys() == from_old.keys() and all(torch.equal(new[k], from_old[k]) for k in new)


def test_base_model_without_classifier_and_with_pooler(hf_vivit: torch.nn.Module) -> None:
    sd = {k: v for k, v in hf_vivit.state_dict().items() if not k.startswith("classifier.")}
    sd["vivit.pooler.dense.weight"] = torch.zeros(32, 32)  # VivitModel's unused pooler is dropped
    sd["vivit.pooler.dense.bias"] = torch.zeros(32)
    out = convert_vivit(sd)
    assert not any(k.startswith("head.") for k in out)
    model = MODELS.build("vivit_b_joint", **vivit_kwargs_from_config(hf_vivit.config.to_dict()))
    missing, unexpected = model.load_state_dict(out, strict=False)
    assert sorted(missing) == ["head.bias", "head.weight"] and unexpected == []


def test_unexpected_and_missing_keys_raise(hf_vivit: torch.nn.Module, hf_timesformer: torch.nn.Module) -> None:
    sd = dict(hf_vivit.state_dict())
    sd["vivit.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected keys.*extra.weight"):
        convert_vivit(sd)
    with pytest.raises(CheckpointError, match="not a Hugging Face timesformer state dict.*'vivit'"):
        convert_timesformer(hf_vivit.state_dict())  # a ViViT state dict is not a TimeSformer one
    del sd["vivit.extra.weight"], sd["vivit.layernorm.bias"]
    with pytest.raises(CheckpointError, match="key 'layernorm.bias' missing"):
        convert_vivit(sd)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_directory_conversion(hf_vivit: torch.nn.Module, clip: torch.Tensor, tmp_path: Path, fmt: str) -> None:
    d = tmp_path / "vivit"
    hf_vivit.save_pretrained(d)
    if fmt == "bin":  # the older weight format: a torch pickle of the state dict
        (d / "model.safetensors").unlink()
        torch.save(hf_vivit.state_dict(), d / "pytorch_model.bin")
    conv = convert_hf_directory(d, "vivit_b_joint")
    assert conv.class_names == ["archery", "bowling", "cooking", "dancing", "eating"]
    ours = _ours(conv.model, conv.kwargs, conv.state_dict)
    with torch.no_grad():
        assert (ours(clip) - _hf_logits(hf_vivit, clip)).abs().max().item() <= 1e-4


def test_timesformer_directory(hf_timesformer: torch.nn.Module, clip: torch.Tensor, tmp_path: Path) -> None:
    hf_timesformer.save_pretrained(tmp_path)
    conv = convert_hf_directory(tmp_path, "timesformer_b")
    assert conv.kwargs["num_frames"] == 4 and conv.kwargs["patch_size"] == 16
    ours = _ours("timesformer_b", conv.kwargs, conv.state_dict)
    with torch.no_grad():
        assert (ours(clip) - _hf_logits(hf_timesformer, clip)).abs().max().item() <= 1e-4


def test_directory_errors(hf_timesformer: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no config.json"):
        convert_hf_directory(tmp_path, "vivit_b_joint")
    hf_timesformer.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="model_type is 'timesformer', expected 'vivit'"):
        convert_hf_directory(tmp_path, "vivit_b_joint")
    with pytest.raises(CheckpointError, match="no Hugging Face converter for model 'x3d_m'"):
        convert_hf_directory(tmp_path, "x3d_m")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights found"):
        convert_hf_directory(tmp_path, "timesformer_b")
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["attention_type"] = "joint_space_time"
    with pytest.raises(CheckpointError, match="attention_type 'joint_space_time' is not supported"):
        timesformer_kwargs_from_config(cfg)


@pytest.mark.parametrize("model_name", ["vivit_b_joint", "timesformer_b"])
def test_cli_convert_saved_hf_directory(
    model_name: str,
    hf_vivit: torch.nn.Module,
    hf_timesformer: torch.nn.Module,
    clip: torch.Tensor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``vidstruct convert --from hf DIR --model NAME --out x.ckpt``: kwargs and classes from config.json."""
    from vidstruct.cli.main import main
    from vidstruct.models.checkpoint import load_model_checkpoint

    hf = hf_vivit if model_name == "vivit_b_joint" else hf_timesformer
    src, out = tmp_path / "hf", tmp_path / "x.ckpt"
    hf.save_pretrained(src)
    assert main(["convert", "--from", "hf", str(src), "--model", model_name, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == model_name
    model, meta = load_model_checkpoint(out)
    assert meta["classes"] == ["archery", "bowling", "cooking", "dancing", "eating"]
    assert (model.input_spec.num_frames, model.input_spec.crop_size) == (4, 48)
    with torch.no_grad():
        assert (model(clip) - _hf_logits(hf, clip)).abs().max().item() <= 1e-4


def test_cli_convert_wrong_model_is_one_line_error(
    hf_timesformer: torch.nn.Module, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidstruct.cli.main import main

    hf_timesformer.save_pretrained(tmp_path / "hf")
    capsys.readouterr()  # drop HF's own progress output
    rc = main(["convert", "--from", "hf", str(tmp_path / "hf"), "--model", "vivit_b_joint", "--out", "x.ckpt"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "not a Hugging Face vivit state dict" in err and "'timesformer'" in err
    assert not (tmp_path / "x.ckpt").exists()


def test_config_variants_without_qkv_bias_and_exact_gelu(clip: torch.Tensor) -> None:
    variants = dict(qkv_bias=False, hidden_act="gelu", intermediate_size=48, id2label=LABELS, **TINY)
    hf_v = _randomize(transformers.VivitForVideoClassification(transformers.VivitConfig(**variants)))
    kwargs = vivit_kwargs_from_config(hf_v.config.to_dict())
    assert kwargs["activation"] == "gelu" and kwargs["qkv_bias"] is False and kwargs["mlp_ratio"] == 1.5
    ours = _ours("vivit_b_joint", kwargs, convert_vivit(hf_v.state_dict()))
    with torch.no_grad():
        assert (ours(clip) - _hf_logits(hf_v, clip)).abs().max().item() <= 1e-4
    hf_t = _randomize(transformers.TimesformerForVideoClassification(transformers.TimesformerConfig(**variants)))
    ours = _ours(
        "timesformer_b", timesformer_kwargs_from_config(hf_t.config.to_dict()), convert_timesformer(hf_t.state_dict())
    )
    with torch.no_grad():
        assert (ours(clip) - _hf_logits(hf_t, clip)).abs().max().item() <= 1e-4
