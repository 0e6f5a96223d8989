"""The localizer checkpoint ``RUN/localizer.pt`` (format ``vidstruct.localizer/1``).

A ``torch.save`` of plain types (loads with ``torch.load(weights_only=True)``)::

    format: "vidstruct.localizer/1"
    model: "bmn" | "weak_cas"                    # registry name
    model_kwargs: {...}                          # builder kwargs (BMN: relation=False; the head is below)
    state_dict: {...}                            # without the relation head's weights
    relation: None | {"model_kwargs": {...},     # "relation_head" builder kwargs
                      "top_k": int,              # proposals refined per video
                      "state_dict": {...}}
    classes: [names]                             # localization classes (label indices)
    features: {"backbone_checkpoint", "backbone_sha256", "backbone_model", "backbone_classes",
               "config_hash", "window_s", "stride_s", "feature_dim", "temporal_scale",
               "mode": "rescale" | "window", "window_stride"}
    postprocess: PostprocessSettings.to_dict()   # Soft-NMS, max segments, fusion mode and top-k
    metrics: {...}                               # validation metrics at the end of training
    vidstruct_version, torch_version

:func:`load_localizer` rebuilds the modules (eval mode) into a
:class:`LocalizerBundle`; :func:`vidstruct.pipeline.localization_chain.localize_features`
runs it on a video's snippet features. Weights load through the one strict
loader (:func:`vidstruct.models.state_dict.load_checkpoint_into`); the file is
written atomically (:mod:`vidstruct.atomic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidstruct import __version__
from vidstruct.atomic import write_bytes_atomic
from vidstruct.errors import CheckpointError, VidstructError
from vidstruct.models.checkpoint_files import need_field, read_checkpoint_doc, resolve_run_file
from vidstruct.models.localization.spec import PostprocessSettings, class_map
from vidstruct.models.state_dict import load_checkpoint_into
from vidstruct.registry import MODELS

__all__ = ["FORMAT", "LocalizerBundle", "load_localizer", "relation_head_kwargs", "save_localizer"]

FORMAT = "vidstruct.localizer/1"
KINDS = ("bmn", "weak_cas")
FEATURE_KEYS = ("window_s", "stride_s", "feature_dim", "temporal_scale")


@dataclass
class LocalizerBundle:
    """A loaded localizer: ``model`` (eval mode; BMN with its relation head attached when saved with one),
    ``kind``, class names, feature metadata, post-processing settings and the raw metadata."""

    model: nn.Module
    kind: str
    classes: list[str]
    features: dict[str, Any]
    postprocess: PostprocessSettings
    model_kwargs: dict[str, Any]
    relation: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    path: str = ""

    @property
    def class_map(self) -> np.ndarray | None:
        """Columns of the localization classes in the backbone's probabilities (``None`` unless fused with them)."""
        return class_map(self.classes, self.features.get("backbone_classes"), self.postprocess.fusion)


def relation_head_kwargs(head: nn.Module) -> dict[str, Any]:
    """``relation_head`` builder kwargs that rebuild ``head`` (a :class:`~.relation.RelationHead`)."""
    layer = head.encoder.layers[0]  # type: ignore[index]
    return {
        "in_dim": int(head.in_dim),
        "d_model": int(head.proj[0].out_features),  # type: ignore[index]
        "num_layers": len(head.encoder.layers),  # type: ignore[arg-type]
        "num_heads": int(layer.self_attn.num_heads),
        "dropout": float(layer.dropout.p),
        "pos_dim": int(head.pos_dim),
    }


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def save_localizer(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: dict[str, Any],
    classes: list[str],
    features: dict[str, Any],
    postprocess: PostprocessSettings | dict[str, Any],
    metrics: dict[str, float] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (a BMN, with or without relation head, or a WeakCAS) as ``vidstruct.localizer/1``.

    ``features`` must hold at least ``window_s``, ``stride_s``, ``feature_dim`` and ``temporal_scale``.
    The file is written atomically (a reader never sees a partial checkpoint).
    """
    if model_name not in KINDS:
        raise CheckpointError(f"save_localizer: model_name must be one of {KINDS}, got {model_name!r}")
    missing = [k for k in FEATURE_KEYS if k not in features]
    if missing:
        raise CheckpointError(f"save_localizer: features metadata lacks {missing}")
    post = postprocess if isinstance(postprocess, PostprocessSettings) else PostprocessSettings.from_dict(postprocess)
    state = _plain(model.state_dict())
    kwargs = {k: v for k, v in model_kwargs.items() if not k.startswith("relation")}
    relation = None
    head = getattr(model, "relation", None)
    if model_name == "bmn":
        kwargs["relation"] = False
        if head is not None:
            relation = {
                "model_kwargs": relation_head_kwargs(head),
                "top_k": int(model.relation_top_k),  # type: ignore[arg-type]
                "state_dict": {k[len("relation.") :]: v for k, v in state.items() if k.startswith("relation.")},
            }
            state = {k: v for k, v in state.items() if not k.startswith("relation.")}
    doc = {
        "format": FORMAT,
        "model": model_name,
        "model_kwargs": kwargs,
        "state_dict": state,
        "relation": relation,
        "classes": [str(c) for c in classes],
        "features": dict(features),
        "postprocess": post.to_dict(),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "config": config or {},
        "vidstruct_version": str(__version__),
        "torch_version": str(torch.__version__),
    }
    return write_bytes_atomic(path, lambda fh: torch.save(doc, fh))


def _need(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    return need_field(doc, key, kind, path, FORMAT)


def load_localizer(path: str | Path, *, device: str | torch.device = "cpu") -> LocalizerBundle:
    """Load ``RUN/localizer.pt`` (or a run directory holding it) into a :class:`LocalizerBundle`.

    Raises :class:`CheckpointError` for a missing, unreadable, foreign or inconsistent file.
    """
    path = resolve_run_file(path, "localizer.pt", "localizer")
    doc = read_checkpoint_doc(path, FORMAT, "localizer")
    kind = _need(doc, "model", str, path)
    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown localizer model {kind!r} (expected one of {KINDS})")
    kwargs = _need(doc, "model_kwargs", dict, path)
    state = _need(doc, "state_dict", dict, path)
    classes = _need(doc, "classes", list, path)
    features = _need(doc, "features", dict, path)
    missing = [k for k in FEATURE_KEYS if k not in features]
    if missing:
        raise CheckpointError(f"{path}: features metadata lacks {missing}")
    try:
        post = PostprocessSettings.from_dict(_need(doc, "postprocess", dict, path))
        model = MODELS.build(kind, **kwargs)
        _load_state(model, state, path, "state_dict")
        relation = doc.get("relation")
        if relation is not None:
            if kind != "bmn" or not isinstance(relation, dict):
                raise CheckpointError(f"{path}: field 'relation' is only valid for a BMN localizer")
            head = MODELS.build("relation_head", **relation["model_kwargs"])
            _load_state(head, relation["state_dict"], path, "relation.state_dict")
            if head.in_dim != model.proposal_dim:  # type: ignore[attr-defined]
                raise CheckpointError(f"{path}: relation head in_dim {head.in_dim} does not fit the BMN")
            model.relation = head
            model.relation_top_k = int(relation["top_k"])
    except CheckpointError:
        raise
    except (VidstructError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the localizer ({exc})") from None
    model.to(device).eval()
    return LocalizerBundle(
        model=model,
        kind=kind,
        classes=[str(c) for c in classes],
        features=features,
        postprocess=post,
        model_kwargs=kwargs,
        relation={k: v for k, v in relation.items() if k != "state_dict"} if relation else None,
        metrics=dict(doc.get("metrics") or {}),
        path=str(path),
    )


def _load_state(module: nn.Module, state: dict[str, Any], path: Path, where: str) -> None:
    """Exactly ``state`` into ``module`` (no head re-initialization: a localizer loads whole or not at all)."""
    load_checkpoint_into(module, state, strict=True, reinit_head=False, where=f"{path}: {where}")
