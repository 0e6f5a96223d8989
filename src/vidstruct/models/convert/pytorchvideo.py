"""PyTorchVideo (and PySlowFast-format ``model_state``) checkpoints → our CNNs.

Key layouts handled (PyTorchVideo ``Net`` models built by ``pytorchvideo.models.hub``):

- ResNet-style (``slow_r50``, ``i3d_r50``, ``csn_r101``, ``r2plus1d_r50``)::

      blocks.0.{conv,norm}                      → stem.{conv,bn}
      blocks.K.res_blocks.J.branch1_{conv,norm} → stages.S.J.shortcut.{conv,bn}   (K-th stage block → S)
      blocks.K.res_blocks.J.branch2.conv_b.{conv_t,norm,conv_xy} → stages.S.J.conv_b.{conv_t,bn,conv_s}
      blocks.K.res_blocks.J.branch2.{conv,norm}_X → stages.S.J.{conv,bn}_X
      blocks.N.proj                             → head.fc

- X3D: the stem's ``conv.conv_t`` is its ``(1, 3, 3)`` conv (→ ``stem.conv_s``) and ``conv.conv_xy``
  its depthwise temporal conv (→ ``stem.conv_t``); ``norm_b.0`` / ``norm_b.1.block.{0,2}`` → ``bn_b`` /
  ``se.fc{1,2}``; ``blocks.5.pool.{pre_conv,pre_norm}`` → ``conv5.{conv,bn}``; the ``1×1×1``
  ``post_conv`` becomes the linear ``projection.fc`` (reshaped).
- SlowFast: ``blocks.K.multipathway_blocks.{0,1}`` → ``{slow,fast}``, ``blocks.K.multipathway_fusion``
  → ``fusions.K.lateral``.

PyTorchVideo's heads average with a fixed window (e.g. ``AvgPool3d((8, 7, 7))``) then apply the
linear layer per position; ours pools globally first — identical at the default input size.
PyTorchVideo's ``r2plus1d_r50`` and X3D also end in a softmax: our models return logits.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from vidstruct.errors import CheckpointError
from vidstruct.models.convert import StateDict, register_converter

SOURCE = "pytorchvideo"

# inside ``branch2`` of a PyTorchVideo ResBlock → inside our block (first match wins)
_BRANCH2_RULES: list[tuple[str, str]] = [
    (r"conv_b\.conv_t\.", "conv_b.conv_t."),
    (r"conv_b\.conv_xy\.", "conv_b.conv_s."),
    (r"conv_b\.norm\.", "conv_b.bn."),
    (r"norm_b\.0\.", "bn_b."),
    (r"norm_b\.1\.block\.0\.", "se.fc1."),
    (r"norm_b\.1\.block\.2\.", "se.fc2."),
    (r"conv_([abc])\.", r"conv_\1."),
    (r"norm_([abc])\.", r"bn_\1."),
]


def _block_key(rest: str) -> str | None:
    """Key inside ``res_blocks.J.`` → key inside our block, or ``None`` if unknown."""
    if rest.startswith("branch1_conv."):
        return "shortcut.conv." + rest[len("branch1_conv.") :]
    if rest.startswith("branch1_norm."):
        return "shortcut.bn." + rest[len("branch1_norm.") :]
    if rest.startswith("branch2."):
        inner = rest[len("branch2.") :]
        for pattern, repl in _BRANCH2_RULES:
            if re.match(pattern, inner):
                return re.sub(pattern, repl, inner, count=1)
    return None


def _stage_index(state_dict: StateDict, pattern: str) -> dict[int, int]:
    """``Net.blocks`` index → our stage index, from the indices that hold residual blocks."""
    found = sorted({int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))})
    return {b: i for i, b in enumerate(found)}


def _finish(out: StateDict, unknown: list[str], model: str) -> StateDict:
    if unknown:
        shown = ", ".join(unknown[:4]) + (", …" if len(unknown) > 4 else "")
        raise CheckpointError(
            f"not a PyTorchVideo {model} state dict: {len(unknown)} keys this converter does not know ({shown})"
        )
    if not out:
        raise CheckpointError(f"not a PyTorchVideo {model} state dict: no known keys")
    return out


def convert_resnet(state_dict: StateDict, model: str = "resnet") -> StateDict:
    """Single-pathway ResNet ``Net`` (Slow, I3D, CSN, R(2+1)D-50) → :class:`ResNet3D` keys."""
    stage_of = _stage_index(state_dict, r"blocks\.(\d+)\.res_blocks\.")
    out: StateDict = {}
    unknown = []
    for key, value in state_dict.items():
        new = None
        if m := re.fullmatch(r"blocks\.0\.(conv|norm)\.(.+)", key):
            new = f"stem.{'conv' if m.group(1) == 'conv' else 'bn'}.{m.group(2)}"
        elif (m := re.fullmatch(r"blocks\.(\d+)\.res_blocks\.(\d+)\.(.+)", key)) and (inner := _block_key(m.group(3))):
            new = f"stages.{stage_of[int(m.group(1))]}.{m.group(2)}.{inner}"
        elif m := re.fullmatch(r"blocks\.\d+\.proj\.(weight|bias)", key):
            new = f"head.fc.{m.group(1)}"
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    return _finish(out, unknown, model)


def convert_x3d(state_dict: StateDict, model: str = "x3d") -> StateDict:
    """X3D ``Net`` → :class:`ResNet3D` (X3D configuration) keys."""
    stage_of = _stage_index(state_dict, r"blocks\.(\d+)\.res_blocks\.")
    stem = {"conv.conv_t.": "stem.conv_s.", "conv.conv_xy.": "stem.conv_t.", "norm.": "stem.bn."}
    head = {"pool.pre_conv.": "conv5.conv.", "pool.pre_norm.": "conv5.bn.", "proj.": "head.fc."}
    out: StateDict = {}
    unknown = []
    for key, value in state_dict.items():
        new = None
        if m := re.fullmatch(r"blocks\.0\.(.+)", key):
            new = next((dst + m.group(1)[len(src) :] for src, dst in stem.items() if m.group(1).startswith(src)), None)
        elif (m := re.fullmatch(r"blocks\.(\d+)\.res_blocks\.(\d+)\.(.+)", key)) and (inner := _block_key(m.group(3))):
            new = f"stages.{stage_of[int(m.group(1))]}.{m.group(2)}.{inner}"
        elif m := re.fullmatch(r"blocks\.\d+\.pool\.post_conv\.weight", key):
            new, value = "projection.fc.weight", value.reshape(value.shape[0], value.shape[1])
        elif m := re.fullmatch(r"blocks\.\d+\.((?:pool\.pre_conv|pool\.pre_norm|proj)\..+)", key):
            new = next((dst + m.group(1)[len(src) :] for src, dst in head.items() if m.group(1).startswith(src)), None)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    return _finish(out, unknown, model)


def convert_slowfast(state_dict: StateDict, model: str = "slowfast") -> StateDict:
    """Two-pathway SlowFast ``Net`` → :class:`SlowFast` keys."""
    stage_of = _stage_index(state_dict, r"blocks\.(\d+)\.multipathway_blocks\.\d+\.res_blocks\.")
    paths = {"0": "slow", "1": "fast"}
    out: StateDict = {}
    unknown = []
    for key, value in state_dict.items():
        new = None
        if m := re.fullmatch(r"blocks\.0\.multipathway_blocks\.([01])\.(conv|norm)\.(.+)", key):
            new = f"{paths[m.group(1)]}.stem.{'conv' if m.group(2) == 'conv' else 'bn'}.{m.group(3)}"
        elif (m := re.fullmatch(r"blocks\.(\d+)\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.(.+)", key)) and (
            inner := _block_key(m.group(4))
        ):
            new = f"{paths[m.group(2)]}.stages.{stage_of[int(m.group(1))]}.{m.group(3)}.{inner}"
        elif m := re.fullmatch(r"blocks\.(\d+)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(.+)", key):
            new = f"fusions.{m.group(1)}.lateral.{'conv' if m.group(2) == 'conv_fast_to_slow' else 'bn'}.{m.group(3)}"
        elif m := re.fullmatch(r"blocks\.\d+\.proj\.(weight|bias)", key):
            new = f"head.fc.{m.group(1)}"
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    return _finish(out, unknown, model)


def _register(model: str, fn: Callable[[StateDict, str], StateDict]) -> None:
    def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return fn(state_dict, model)

    convert.__name__ = f"pytorchvideo_{model}"
    convert.__doc__ = f"PyTorchVideo ``{model}`` state dict → vidstruct ``{model}`` state dict."
    register_converter(SOURCE, model)(convert)


for _name in ("slow_r50", "i3d_r50", "csn_r101", "ircsn_r50", "ircsn_r152", "r2plus1d_r50"):
    _register(_name, convert_resnet)
for _name in ("x3d_xs", "x3d_s", "x3d_m", "x3d_l"):
    _register(_name, convert_x3d)
for _name in ("slowfast_r50", "slowfast_r50_4x16", "slowfast_r101"):
    _register(_name, convert_slowfast)
