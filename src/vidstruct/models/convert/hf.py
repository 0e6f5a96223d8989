"""Hugging Face ``transformers`` checkpoints → vidstruct video transformers.

Supported (``model`` name → HF class):

- ``vivit_b_joint`` ← ``VivitForVideoClassification`` / ``VivitModel`` (model type ``vivit``);
- ``timesformer_b`` ← ``TimesformerForVideoClassification`` / ``TimesformerModel``
  (model type ``timesformer``, ``attention_type="divided_space_time"``).

A HF model directory (what ``save_pretrained`` writes / the Hub stores) holds
``config.json`` plus ``model.safetensors`` or ``pytorch_model.bin`` (or a
sharded ``*.index.json``); :func:`convert_hf_directory` reads it without
importing ``transformers`` and returns our builder kwargs (from
``config.json``), the converted state dict and the class names
(``id2label``). State dicts written by transformers 4.x (``encoder.layer.N
.attention.attention.query``...) and 5.x (``layers.N.attention.q_proj``...)
are both accepted. Nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vidstruct.errors import CheckpointError
from vidstruct.models.convert import StateDict, read_source_state_dict, register_converter

_TANH_GELUS = ("gelu_fast", "gelu_new", "gelu_pytorch_tanh", "gelu_accurate")


# --------------------------------------------------------------------------- state dicts


def _strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str, what: str) -> StateDict:
    """Drop ``prefix`` (e.g. ``"vivit."``) from the backbone keys; ``classifier.*`` keys keep their name.

    A state dict without ``prefix`` keys and without bare ``embeddings.*`` keys is another
    model's: :class:`CheckpointError` naming what its keys start with.
    """
    if not any(k.startswith((prefix, "embeddings.")) for k in sd):
        starts = sorted({k.split(".", 1)[0] for k in sd})[:5]
        raise CheckpointError(
            f"{what}: not a Hugging Face {prefix[:-1]} state dict (expected '{prefix}*' keys, "
            f"found keys starting with {', '.join(repr(s) for s in starts) or 'nothing'})"
        )
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in sd.items()}


class _Reader:
    """Pops tensors from a HF state dict, raising :class:`CheckpointError` for missing keys."""

    def __init__(self, sd: Mapping[str, torch.Tensor], what: str) -> None:
        self.sd = dict(sd)
        self.what = what

    def pop(self, key: str) -> torch.Tensor:
        if key not in self.sd:
            raise CheckpointError(f"{self.what}: key {key!r} missing from the Hugging Face state dict")
        return self.sd.pop(key)

    def pop_optional(self, key: str) -> torch.Tensor | None:
        return self.sd.pop(key, None)

    def linear(self, src: str, dst: str, out: StateDict, bias: bool | None = True) -> None:
        """Copy ``src.weight`` / ``src.bias`` to ``dst.*``; ``bias``: True required, None optional, False none."""
        out[f"{dst}.weight"] = self.pop(f"{src}.weight")
        if bias is False:
            return
        b = self.pop(f"{src}.bias") if bias else self.pop_optional(f"{src}.bias")
        if b is not None:
            out[f"{dst}.bias"] = b

    def finish(self, ignore: tuple[str, ...] = ()) -> None:
        left = sorted(k for k in self.sd if not k.startswith(ignore))
        if left:
            shown = ", ".join(left[:8]) + (f" (+{len(left) - 8} more)" if len(left) > 8 else "")
            raise CheckpointError(f"{self.what}: unexpected keys in the Hugging Face state dict: {shown}")


def _num_layers(keys: list[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    if not found:
        return 0
    if found != set(range(max(found) + 1)):
        raise CheckpointError(f"layer indices {sorted(found)} are not contiguous from 0")
    return max(found) + 1


_VIVIT_V4_RENAMES = (
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.query\.", r"layers.\1.attention.q_proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.key\.", r"layers.\1.attention.k_proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.value\.", r"layers.\1.attention.v_proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attention.o_proj."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.mlp.fc2."),
    (r"^encoder\.layer\.(\d+)\.", r"layers.\1."),
)


def convert_vivit(hf_state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """HF ``VivitForVideoClassification`` (or ``VivitModel``) state dict → ``vivit_b_joint`` state dict.

    q / k / v projections are concatenated into our fused ``qkv``; the unused
    ``pooler`` of ``VivitModel`` is dropped; without a ``classifier`` the result
    has no ``head.*`` keys (load it with a fresh head).
    """
    sd = _strip_prefix(hf_state_dict, "vivit.", "ViViT conversion")
    renamed: StateDict = {}
    for key, value in sd.items():
        for pattern, repl in _VIVIT_V4_RENAMES:
            new = re.sub(pattern, repl, key)
            if new != key:
                key = new
                break
        renamed[key] = value
    r = _Reader(renamed, "ViViT conversion")
    out: StateDict = {
        "cls_token": r.pop("embeddings.cls_token"),
        "pos_embed": r.pop("embeddings.position_embeddings"),
    }
    r.linear("embeddings.patch_embeddings.projection", "patch_embed.proj", out)
    depth = _num_layers(list(renamed), r"^layers\.(\d+)\.")
    if depth == 0:
        raise CheckpointError("ViViT conversion: no 'layers.N.' / 'encoder.layer.N.' keys in the state dict")
    for i in range(depth):
        src, dst = f"layers.{i}", f"blocks.{i}"
        qkv = [r.pop(f"{src}.attention.{n}_proj.weight") for n in "qkv"]
        out[f"{dst}.attn.qkv.weight"] = torch.cat(qkv, dim=0)
        biases = [r.pop_optional(f"{src}.attention.{n}_proj.bias") for n in "qkv"]
        if any(b is not None for b in biases):
            if any(b is None for b in biases):
                raise CheckpointError(f"ViViT conversion: layer {i} has biases on only some of q / k / v")
            out[f"{dst}.attn.qkv.bias"] = torch.cat(biases, dim=0)  # type: ignore[arg-type]
        r.linear(f"{src}.attention.o_proj", f"{dst}.attn.proj", out)
        r.linear(f"{src}.layernorm_before", f"{dst}.norm1", out)
        r.linear(f"{src}.layernorm_after", f"{dst}.norm2", out)
        r.linear(f"{src}.mlp.fc1", f"{dst}.mlp.fc1", out)
        r.linear(f"{src}.mlp.fc2", f"{dst}.mlp.fc2", out)
    r.linear("layernorm", "norm", out)
    if "classifier.weight" in r.sd:
        r.linear("classifier", "head", out)
    r.finish(ignore=("pooler.",))
    return out


def convert_timesformer(hf_state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """HF ``TimesformerForVideoClassification`` (or ``TimesformerModel``) state dict → ``timesformer_b``.

    The per-frame ``Conv2d`` patch projection ``[D, C, p, p]`` becomes our
    ``Conv3d`` ``[D, C, 1, p, p]``; without a ``classifier`` the result has no
    ``head.*`` keys.
    """
    sd = _strip_prefix(hf_state_dict, "timesformer.", "TimeSformer conversion")
    r = _Reader(sd, "TimeSformer conversion")
    out: StateDict = {
        "cls_token": r.pop("embeddings.cls_token"),
        "pos_embed": r.pop("embeddings.position_embeddings"),
        "time_embed": r.pop("embeddings.time_embeddings"),
    }
    weight = r.pop("embeddings.patch_embeddings.projection.weight")
    out["patch_embed.proj.weight"] = weight.unsqueeze(2) if weight.ndim == 4 else weight
    out["patch_embed.proj.bias"] = r.pop("embeddings.patch_embeddings.projection.bias")
    depth = _num_layers(list(sd), r"^encoder\.layer\.(\d+)\.")
    if depth == 0:
        raise CheckpointError("TimeSformer conversion: no 'encoder.layer.N.' keys in the state dict")
    names = {
        "attention.attention.qkv": "attn.qkv",
        "attention.output.dense": "attn.proj",
        "temporal_attention.attention.qkv": "temporal_attn.qkv",
        "temporal_attention.output.dense": "temporal_attn.proj",
        "temporal_dense": "temporal_fc",
        "temporal_layernorm": "temporal_norm",
        "layernorm_before": "norm1",
        "layernorm_after": "norm2",
        "intermediate.dense": "mlp.fc1",
        "output.dense": "mlp.fc2",
    }
    for i in range(depth):
        for src, dst in names.items():
            bias = None if src.endswith(".qkv") else True  # qkv_bias=False checkpoints have no qkv biases
            r.linear(f"encoder.layer.{i}.{src}", f"blocks.{i}.{dst}", out, bias=bias)
    r.linear("layernorm", "norm", out)
    if "classifier.weight" in r.sd:
        r.linear("classifier", "head", out)
    r.finish()
    return out


# --------------------------------------------------------------------------- configs


def _get(cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return cfg.get(key, default)


def _square(value: Any, key: str) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise CheckpointError(f"config.json: {key} {value!r} is not square; only square inputs are supported")
        return int(value[0])
    return int(value)


def _activation(cfg: Mapping[str, Any], default: str) -> str:
    act = str(_get(cfg, "hidden_act", default))
    if act == "gelu":
        return "gelu"
    if act in _TANH_GELUS:
        return "gelu_tanh"
    raise CheckpointError(f"config.json: hidden_act {act!r} is not supported (expected 'gelu' or one of {_TANH_GELUS})")


def _num_labels(cfg: Mapping[str, Any]) -> int:
    if cfg.get("id2label"):
        return len(cfg["id2label"])
    return int(cfg.get("num_labels", 2))


def class_names_from_config(cfg: Mapping[str, Any]) -> list[str]:
    """Class names in label-index order from ``id2label`` (empty when the config has none)."""
    id2label = cfg.get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def _check_type(cfg: Mapping[str, Any], expected: str) -> None:
    got = cfg.get("model_type")
    if got != expected:
        raise CheckpointError(f"config.json: model_type is {got!r}, expected {expected!r}")
    if int(cfg.get("num_channels", 3)) != 3:
        raise CheckpointError(f"config.json: num_channels is {cfg['num_channels']}, expected 3")


def _mlp_ratio(cfg: Mapping[str, Any], hidden: int) -> float:
    return int(_get(cfg, "intermediate_size", 4 * hidden)) / hidden


def vivit_kwargs_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A HF ``VivitConfig`` (dict of ``config.json``) → keyword arguments of ``vivit_b_joint``."""
    _check_type(cfg, "vivit")
    hidden = int(_get(cfg, "hidden_size", 768))
    return {
        "num_classes": _num_labels(cfg),
        "image_size": _square(_get(cfg, "image_size", 224), "image_size"),
        "num_frames": int(_get(cfg, "num_frames", 32)),
        "tubelet_size": tuple(int(v) for v in _get(cfg, "tubelet_size", (2, 16, 16))),
        "hidden_size": hidden,
        "depth": int(_get(cfg, "num_hidden_layers", 12)),
        "num_heads": int(_get(cfg, "num_attention_heads", 12)),
        "mlp_ratio": _mlp_ratio(cfg, hidden),
        "qkv_bias": bool(_get(cfg, "qkv_bias", True)),
        "dropout": float(_get(cfg, "hidden_dropout_prob", 0.0)),
        "attention_dropout": float(_get(cfg, "attention_probs_dropout_prob", 0.0)),
        "activation": _activation(cfg, "gelu_fast"),
        "layer_norm_eps": float(_get(cfg, "layer_norm_eps", 1e-6)),
    }


def timesformer_kwargs_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A HF ``TimesformerConfig`` (dict of ``config.json``) → keyword arguments of ``timesformer_b``."""
    _check_type(cfg, "timesformer")
    attention = _get(cfg, "attention_type", "divided_space_time")
    if attention != "divided_space_time":
        raise CheckpointError(
            f"config.json: attention_type {attention!r} is not supported (expected 'divided_space_time')"
        )
    hidden = int(_get(cfg, "hidden_size", 768))
    return {
        "num_classes": _num_labels(cfg),
        "image_size": _square(_get(cfg, "image_size", 224), "image_size"),
        "num_frames": int(_get(cfg, "num_frames", 8)),
        "patch_size": _square(_get(cfg, "patch_size", 16), "patch_size"),
        "hidden_size": hidden,
        "depth": int(_get(cfg, "num_hidden_layers", 12)),
        "num_heads": int(_get(cfg, "num_attention_heads", 12)),
        "mlp_ratio": _mlp_ratio(cfg, hidden),
        "qkv_bias": bool(_get(cfg, "qkv_bias", True)),
        "dropout": float(_get(cfg, "hidden_dropout_prob", 0.0)),
        "attention_dropout": float(_get(cfg, "attention_probs_dropout_prob", 0.0)),
        "drop_path_rate": float(_get(cfg, "drop_path_rate", 0.0)),
        "activation": _activation(cfg, "gelu"),
        "layer_norm_eps": float(_get(cfg, "layer_norm_eps", 1e-6)),
    }


@dataclass(frozen=True)
class HFConverter:
    """How one of our models is made from a HF checkpoint."""

    model_type: str  # HF config ``model_type``
    kwargs_from_config: Callable[[Mapping[str, Any]], dict[str, Any]]
    convert: Callable[[Mapping[str, torch.Tensor]], StateDict]


HF_CONVERTERS: dict[str, HFConverter] = {
    "vivit_b_joint": HFConverter("vivit", vivit_kwargs_from_config, convert_vivit),
    "timesformer_b": HFConverter("timesformer", timesformer_kwargs_from_config, convert_timesformer),
}


# --------------------------------------------------------------------------- directories


def load_hf_config(directory: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a HF model directory."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{directory}: no config.json (expected a Hugging Face save_pretrained directory)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def load_hf_state_dict(directory: str | Path) -> StateDict:
    """The weights of a HF model directory: ``model.safetensors``, ``pytorch_model.bin`` or their sharded index."""
    d = Path(directory)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (d / name).is_file():
            return read_source_state_dict(d / name)
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (d / index).is_file():
            try:
                weight_map = json.loads((d / index).read_text())["weight_map"]
            except (OSError, json.JSONDecodeError, KeyError) as exc:
                raise CheckpointError(f"{d / index}: not a valid shard index ({exc})") from None
            sd: StateDict = {}
            for shard in sorted(set(weight_map.values())):
                sd.update(read_source_state_dict(d / shard))
            return sd
    raise CheckpointError(
        f"{d}: no weights found (expected model.safetensors, pytorch_model.bin or a sharded *.index.json)"
    )


@dataclass
class HFConversion:
    """Result of converting a HF model directory: build ``MODELS.build(model, **kwargs)`` and load ``state_dict``."""

    model: str
    kwargs: dict[str, Any]
    state_dict: StateDict
    class_names: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def get_hf_converter(model: str) -> HFConverter:
    """The converter for our model ``model``; :class:`CheckpointError` naming the supported ones otherwise."""
    if model not in HF_CONVERTERS:
        raise CheckpointError(
            f"no Hugging Face converter for model {model!r} (supported: {', '.join(sorted(HF_CONVERTERS))})"
        )
    return HF_CONVERTERS[model]


def convert_hf_directory(directory: str | Path, model: str) -> HFConversion:
    """Read a HF ``save_pretrained`` directory and convert it for our model ``model``."""
    converter = get_hf_converter(model)
    cfg = load_hf_config(directory)
    kwargs = converter.kwargs_from_config(cfg)
    state_dict = converter.convert(load_hf_state_dict(directory))
    return HFConversion(model, kwargs, state_dict, class_names_from_config(cfg), cfg)


# --------------------------------------------------------------------------- registry


def _source_dir(src: Path) -> Path:
    """The HF model folder of ``src`` (the folder itself, or the folder holding a weights file)."""
    return src if src.is_dir() else src.parent


def _register() -> None:
    """Register every HF converter as ``("hf", model)`` (used by ``vidstruct convert --from hf``)."""
    for model, conv in HF_CONVERTERS.items():

        def read_kwargs(src: Path, conv: HFConverter = conv) -> dict[str, Any]:
            return conv.kwargs_from_config(load_hf_config(_source_dir(src)))

        def read_classes(src: Path) -> list[str] | None:
            return class_names_from_config(load_hf_config(_source_dir(src))) or None

        register_converter("hf", model, read_classes=read_classes, read_kwargs=read_kwargs)(conv.convert)


_register()
