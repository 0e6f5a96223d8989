"""Loading a state dict into a model, strictly, with a report: the one loader every checkpoint reader uses.

:func:`load_checkpoint_into` compares the state dict with the model's own
(keys and shapes) and either loads it or raises :class:`CheckpointError`
naming the offending keys. The only tolerated difference is the classifier
(keys under ``model.head_prefix``, default ``"head."``) of another number of
classes, re-initialized explicitly (``model.reset_head``) and reported; pass
``reinit_head=False`` where even that must be an error (e.g. a localizer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vidstruct.errors import CheckpointError

__all__ = ["LoadReport", "load_checkpoint_into"]

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What :func:`load_checkpoint_into` did.

    - ``missing``: model keys the state dict lacks; ``unexpected``: state-dict keys the model lacks;
    - ``mismatched``: ``(key, checkpoint shape, model shape)``;
    - ``head_reinitialized``: the classifier (``head_prefix`` keys) was re-initialized instead of loaded;
    - ``loaded``: number of tensors copied into the model.
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    head_reinitialized: bool = False
    loaded: int = 0

    @property
    def exact(self) -> bool:
        """Every model tensor came from the state dict and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched or self.head_reinitialized)

    def summary(self) -> str:
        """One line, e.g. ``loaded 318 tensors; head re-initialized (2 keys: head.proj.weight …)``."""
        parts = [f"loaded {self.loaded} tensors"]
        if self.head_reinitialized:
            parts.append("head re-initialized")
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} keys ({_few(keys)})")
        if self.mismatched:
            shown = ", ".join(f"{k}: {list(a)} vs {list(b)}" for k, a, b in self.mismatched[:3])
            parts.append(f"{len(self.mismatched)} shape mismatches ({shown})")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": [[k, list(a), list(b)] for k, a, b in self.mismatched],
            "head_reinitialized": self.head_reinitialized,
            "loaded": self.loaded,
        }


def _few(keys: Iterable[str], n: int = 3) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (", …" if len(keys) > n else "")


def load_checkpoint_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    head_prefix: str | None = None,
    model_name: str | None = None,
    checkpoint_model: str | None = None,
    where: str = "checkpoint",
    reinit_head: bool = True,
) -> LoadReport:
    """Copy ``state_dict`` into ``model`` and report what matched.

    Classifier keys (starting with ``head_prefix``, default ``model.head_prefix`` or ``"head."``)
    whose shapes differ — another number of classes — or that are absent are skipped and the
    head is re-initialized explicitly with ``model.reset_head(model.num_classes)``.
    Any other difference (missing / unexpected keys, shape mismatches) raises
    :class:`CheckpointError` when ``strict`` — naming ``checkpoint_model`` vs ``model_name`` and
    a few offending keys —, else the matching tensors are loaded and the rest reported.
    ``reinit_head=False``: the classifier is not special (any difference is one of the above).
    The report is logged (debug when exact, warning otherwise).
    """
    prefix = head_prefix or getattr(model, "head_prefix", "head.")
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    head_keys = {k for k in own if k.startswith(prefix)} if reinit_head else set()
    redo_head = bool(head_keys) and any(k in head_keys for k in missing + [m[0] for m in mismatched])
    body_missing = [k for k in missing if k not in head_keys]
    body_mismatched = [m for m in mismatched if m[0] not in head_keys]
    unexpected_body = [k for k in unexpected if not (redo_head and k.startswith(prefix))]
    if strict and (body_missing or unexpected_body or body_mismatched):
        asked = model_name or type(model).__name__
        held = f"model {checkpoint_model!r}" if checkpoint_model else "another model"
        problems = []
        if body_missing:
            problems.append(f"{len(body_missing)} missing keys ({_few(body_missing)})")
        if unexpected_body:
            problems.append(f"{len(unexpected_body)} unexpected keys ({_few(unexpected_body)})")
        if body_mismatched:
            shown = ", ".join(f"{k}: {list(a)} vs {list(b)}" for k, a, b in body_mismatched[:3])
            problems.append(f"{len(body_mismatched)} shape mismatches, checkpoint vs model ({shown})")
        raise CheckpointError(f"{where}: checkpoint holds {held}, which does not fit {asked!r}: " + "; ".join(problems))
    skip = {m[0] for m in mismatched} | (head_keys if redo_head else set())
    to_load = {k: v for k, v in state_dict.items() if k in own and k not in skip}
    model.load_state_dict(to_load, strict=False)
    if redo_head:
        reset = getattr(model, "reset_head", None)
        if reset is None:
            raise CheckpointError(f"{where}: the classifier does not fit and {type(model).__name__} has no reset_head")
        reset(int(model.num_classes))
    report = LoadReport(
        missing=missing,
        unexpected=unexpected,
        mismatched=mismatched,
        head_reinitialized=redo_head,
        loaded=len(to_load),
    )
    (log.debug if report.exact else log.warning)("%s: %s", where, report.summary())
    return report
