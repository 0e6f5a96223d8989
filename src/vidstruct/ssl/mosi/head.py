"""The MoSI pretext head and how it replaces a backbone's classifier.

:func:`attach_pretext_head` swaps the classifier of a registered recognition model (the module
at ``model.head_prefix``, default ``"head."``) for a :class:`MoSIHead` over the backbone's pooled
features ``[B, feature_dim]``:

- ``"joint"`` label mode: one linear layer → logits ``[B, L]`` (``L`` speeds, 9 by default);
- ``"separate"``: two linear layers → ``{"move_x": [B, S], "move_y": [B, S]}`` (``S`` speeds per axis),
  the training engine's multi-head format (loss summed over heads, targets ``batch["labels"]``).

The model's own ``forward`` keeps routing ``forward_features`` through the module at
``head_prefix``, so the engine trains the backbone + pretext head unchanged (checkpoints,
resume, DDP). The pretext weights are named ``<head_prefix>pretext.<joint|move_x|move_y>.*``
— never the classifier's own names — so that loading a MoSI checkpoint into the same backbone
for fine-tuning (:func:`vidstruct.models.state_dict.load_checkpoint_into`, ``model.init_from``)
finds the classifier missing (re-initialized explicitly) and reports the pretext keys as
unexpected (dropped), whatever the number of classes of the new task.
"""

from __future__ import annotations

import torch
from torch import nn

from vidstruct.errors import ConfigError
from vidstruct.models.heads import global_pool
from vidstruct.ssl.mosi.labels import SEPARATE_HEADS, MotionLabelSpace

PRETEXT = "pretext"
"""Name of the pretext layers' container inside :class:`MoSIHead` (state-dict keys ``…pretext.*``)."""


class MoSIHead(nn.Module):
    """Pooled features ``[B, D]`` (or a map ``[B, D, T, H, W]``, averaged) → MoSI logits.

    Returns ``[B, L]`` (joint) or ``{"move_x": [B, S], "move_y": [B, S]}`` (separate); raw logits.
    """

    def __init__(self, in_features: int, label_space: MotionLabelSpace, *, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ConfigError(f"mosi head_dropout must be in [0, 1), got {dropout}")
        self.in_features = int(in_features)
        self.mode = label_space.mode
        self.dropout = nn.Dropout(dropout)
        if label_space.mode == "joint":
            sizes = {"joint": len(label_space)}
        else:
            sizes = dict.fromkeys(SEPARATE_HEADS, label_space.num_speeds)
        self.pretext = nn.ModuleDict({name: nn.Linear(self.in_features, n) for name, n in sizes.items()})
        for fc in self.pretext.values():
            nn.init.normal_(fc.weight, std=0.01)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        x = self.dropout(global_pool(x))
        if self.mode == "joint":
            return self.pretext["joint"](x)
        return {name: fc(x) for name, fc in self.pretext.items()}


def classifier_path(model: nn.Module) -> str:
    """Dotted module path of ``model``'s classifier: its ``head_prefix`` without the final dot."""
    return str(getattr(model, "head_prefix", "head.")).rstrip(".")


def feature_dim(model: nn.Module) -> int:
    """Width of the features the classifier receives: its ``in_features`` when it is (or holds) a
    linear layer, else ``model.feature_dim``."""
    path = classifier_path(model)
    old = model.get_submodule(path)
    for m in (old, getattr(old, "fc", None)):
        if isinstance(m, nn.Linear):
            return int(m.in_features)
    dim = getattr(model, "feature_dim", None)
    if dim is None:
        raise ConfigError(f"{type(model).__name__}: no feature_dim and no linear classifier at {path!r}")
    return int(dim)


def attach_pretext_head(
    model: nn.Module, label_space: MotionLabelSpace, *, dropout: float = 0.0, name: str | None = None
) -> MoSIHead:
    """Replace ``model``'s classifier by a :class:`MoSIHead` in place and return the head.

    ``model`` must follow the :class:`~vidstruct.models.base.VideoModel` contract (its forward
    feeds pooled features to the module at ``head_prefix``). ``model.num_classes`` becomes ``L``
    (joint) or the speeds per axis (separate). ``name`` (the registered model name) is used in
    error messages.
    """
    path = classifier_path(model)
    where = name or type(model).__name__
    try:
        model.get_submodule(path)
    except AttributeError:
        raise ConfigError(f"model {where!r} has no classifier module {path!r} to replace with the MoSI head") from None
    head = MoSIHead(feature_dim(model), label_space, dropout=dropout)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, head.to(device))
    model.num_classes = len(label_space) if label_space.mode == "joint" else label_space.num_speeds
    return head
