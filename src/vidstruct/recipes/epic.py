"""EPIC-Kitchens-100 recognition pieces of the recognition recipe: class tables, the two-head model, the C1 files.

A recognition config selects EPIC-100 with ``model.head.name: epic_verb_noun``: ``model.name`` and its other keys
are then the *backbone* (checked against that builder), wrapped by the registered ``epic_verb_noun`` model
(:mod:`vidstruct.models.epic`) whose verb / noun classes come from ``data.verb_classes`` /
``data.noun_classes`` (``EPIC_100_verb_classes.csv`` / ``EPIC_100_noun_classes.csv``). The training loss is
``loss_weights.verb * CE(verb) + loss_weights.noun * CE(noun)``.

What ``vidstruct test --out DIR`` writes for such a model (besides ``metrics.json`` and ``probs.npz``):

- ``results.pkl``: what the C1 challenge's ``evaluate.py`` / ``create_submission.py`` read, a list with one
  ``{"narration_id": str, "verb_output": float32 [V], "noun_output": float32 [N]}`` per evaluated segment, in
  annotation order. The outputs are **log-probabilities**: the natural log of the softmax probabilities averaged
  over the test views. The official script treats the outputs as logits and applies a softmax to them
  (over the top-100 scores), and ``softmax(log p) = p``, so its verb x noun action scores are the products of
  our probabilities (raw probabilities would be ranked by ``exp(p_verb + p_noun)`` there instead);
- ``submission.json`` (and ``submission.zip`` holding it as ``test.json``, the upload form): ``{"version": "0.2",
  "challenge": "action_recognition", "sls_pt", "sls_tl", "sls_td", "results": {narration_id: {"verb": {class:
  score}, "noun": {class: score}, "action": {"v,n": score}}}}``: every verb and noun score (the same
  log-probabilities as ``results.pkl``, as the official ``create_submission.py`` copies them) and the 100 best
  actions with their probability ``p(verb) * p(noun)`` (the challenge scores actions from the top-100 pairs).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidstruct.atomic import atomic_open, write_json_atomic
from vidstruct.config.schema import DataSection, ExperimentConfig
from vidstruct.data.formats.epic_kitchens import read_epic_classes
from vidstruct.errors import ConfigError
from vidstruct.eval.classification import action_topk
from vidstruct.models.state_dict import load_checkpoint_into

__all__ = [
    "EPIC_MODEL",
    "check_head",
    "epic_classes",
    "epic_model_kwargs",
    "init_epic_backbone",
    "is_epic",
    "log_probs",
    "loss_weights",
    "results_list",
    "submission",
    "write_epic_outputs",
]

EPIC_MODEL = "epic_verb_noun"
"""The registered name of the two-head model (what model checkpoints record)."""
TOP_ACTIONS = 100
SUBMISSION_VERSION = "0.2"


def is_epic(cfg: ExperimentConfig) -> bool:
    """Whether ``cfg`` trains EPIC-100 verb + noun heads (``model.head.name: epic_verb_noun``)."""
    return cfg.model.head.name == "epic_verb_noun"


def check_head(cfg: ExperimentConfig) -> None:
    """ConfigError when ``model.head`` sets EPIC-only keys (dropout, loss weights) on the model's own classifier."""
    head = cfg.model.head
    if head.name == "linear":
        set_keys = [k for k in ("dropout", "loss_weights") if k in head.model_fields_set]
        if set_keys:
            raise ConfigError(
                f"model.head.{set_keys[0]}: only used by model.head.name epic_verb_noun (the linear head takes "
                "model.dropout)"
            )


def epic_classes(data: DataSection) -> tuple[list[str], list[str]]:
    """``(verb keys, noun keys)`` from ``data.verb_classes`` / ``data.noun_classes``; ConfigError if unset."""
    names = []
    for key in ("verb_classes", "noun_classes"):
        path = getattr(data, key)
        if not path:
            raise ConfigError(
                f"data.{key}: required by model.head.name epic_verb_noun (expected EPIC_100_{key}.csv: id,key,...)"
            )
        if not Path(path).is_file():
            raise ConfigError(f"data.{key}: {path}: class table not found")
        names.append([c.key for c in read_epic_classes(path)])
    return names[0], names[1]


def epic_model_kwargs(cfg: ExperimentConfig, backbone_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Builder arguments of :data:`EPIC_MODEL` for the backbone ``model.name`` with (checked) ``backbone_kwargs``."""
    if cfg.model.name == EPIC_MODEL:
        raise ConfigError(f"model.name: with model.head.name {EPIC_MODEL} name the backbone (e.g. slowfast_r50)")
    if "num_classes" in backbone_kwargs:
        raise ConfigError("model.num_classes: EPIC heads take their sizes from data.verb_classes / data.noun_classes")
    verbs, nouns = epic_classes(cfg.data)
    dropout = cfg.model.head.dropout
    if dropout is None:
        dropout = float(backbone_kwargs.get("dropout", 0.5))
    return {
        "backbone": cfg.model.name,
        "backbone_kwargs": dict(backbone_kwargs),
        "verb_classes": verbs,
        "noun_classes": nouns,
        "dropout": dropout,
    }


def loss_weights(cfg: ExperimentConfig) -> dict[str, float]:
    """``{"verb": w_v, "noun": w_n}`` from ``model.head.loss_weights``."""
    w = cfg.model.head.loss_weights
    return {"verb": float(w.verb), "noun": float(w.noun)}


def init_epic_backbone(model: torch.nn.Module, state: dict[str, torch.Tensor], held: str | None, where: str) -> None:
    """Initialize an EPIC model from ``state``: a whole EPIC model's weights (keys ``backbone.*`` / ``head.*``;
    heads re-initialized if their sizes differ), else a backbone's (e.g. Kinetics-pretrained; its classifier
    ``head.*`` is dropped)."""
    if held == EPIC_MODEL or any(k.startswith("backbone.") for k in state):
        load_checkpoint_into(model, state, strict=True, model_name=EPIC_MODEL, checkpoint_model=held, where=where)
        return
    body = {k: v for k, v in state.items() if not k.startswith("head.")}
    backbone = model.backbone  # type: ignore[attr-defined]
    load_checkpoint_into(backbone, body, strict=True, reinit_head=False, checkpoint_model=held, where=where)


def log_probs(probs: np.ndarray) -> np.ndarray:
    """Natural log of probabilities (floored at 1e-30, so an underflowed 0 stays finite), float32."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), 1e-30)).astype(np.float32)


def results_list(verb_probs: np.ndarray, noun_probs: np.ndarray, narration_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The C1 results list ``[{"narration_id", "verb_output" [V], "noun_output" [N]}]`` of probabilities
    ``[N, V]`` / ``[N, N']``; the outputs are their log-probabilities (float32, module doc)."""
    return [
        {"narration_id": str(nid), "verb_output": v, "noun_output": n}
        for nid, v, n in zip(narration_ids, log_probs(verb_probs), log_probs(noun_probs))
    ]


def submission(
    verb_probs: np.ndarray,
    noun_probs: np.ndarray,
    narration_ids: Sequence[str],
    *,
    sls: tuple[int, int, int],
    top_actions: int = TOP_ACTIONS,
) -> dict[str, Any]:
    """The C1 submission document of probabilities ``[N, V]`` / ``[N, N']`` (module doc: verb / noun scores are
    log-probabilities, actions probabilities); ``sls`` = (pretraining, training labels, training data) levels."""
    k = min(top_actions, verb_probs.shape[1] * noun_probs.shape[1]) if len(verb_probs) else 0
    results: dict[str, Any] = {}
    if len(verb_probs):
        verbs, nouns = action_topk(verb_probs, noun_probs, k)
    log_v, log_n = log_probs(verb_probs), log_probs(noun_probs)
    for i, nid in enumerate(narration_ids):
        v, n = verb_probs[i], noun_probs[i]
        actions = {f"{a},{b}": float(v[a] * n[b]) for a, b in zip(verbs[i].tolist(), nouns[i].tolist())}
        results[str(nid)] = {
            "verb": {str(c): float(s) for c, s in enumerate(log_v[i])},
            "noun": {str(c): float(s) for c, s in enumerate(log_n[i])},
            "action": actions,
        }
    return {
        "version": SUBMISSION_VERSION,
        "challenge": "action_recognition",
        "sls_pt": sls[0],
        "sls_tl": sls[1],
        "sls_td": sls[2],
        "results": results,
    }


def write_epic_outputs(
    out: Path,
    verb_probs: np.ndarray,
    noun_probs: np.ndarray,
    narration_ids: Sequence[str],
    *,
    sls: tuple[int, int, int],
) -> dict[str, Path]:
    """Write ``results.pkl``, ``submission.json`` and ``submission.zip`` (``test.json``) atomically."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "results.pkl") as f:
        pickle.dump(results_list(verb_probs, noun_probs, narration_ids), f, protocol=4)
    doc = submission(verb_probs, noun_probs, narration_ids, sls=sls)
    write_json_atomic(out / "submission.json", doc, indent=None)
    with atomic_open(out / "submission.zip") as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("test.json", (out / "submission.json").read_text(encoding="utf-8"))
    return {"results": out / "results.pkl", "submission": out / "submission.json", "zip": out / "submission.zip"}
