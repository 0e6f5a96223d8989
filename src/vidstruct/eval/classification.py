"""Recognition metrics: top-k, mean class accuracy, EPIC-Kitchens-100 verb / noun / action, confusion matrix.

Conventions (every function):

- ``scores``: ``[N, K]`` class scores, numpy or torch; probabilities for the
  EPIC action scores (softmax of logits), any monotonic scores elsewhere;
- ``targets``: ``[N]`` integer class indices;
- accuracies are fractions in ``[0, 1]`` (not percent).

Ranking and ties: classes are ranked by score, descending, with a *stable*
sort (``torch.sort(stable=True, descending=True)``), so among equal scores the
lower class index ranks first. Top-k counts a sample correct when its target
is among the first ``k`` ranked classes (``k`` is clamped to ``K``). Top-1
predictions (confusion matrix, mean class accuracy) use the same ranking.

Mean class accuracy is the unweighted mean, over the classes that occur in
``targets``, of each class's recall; classes absent from the targets are
ignored (they would otherwise count as 0 / 0).

EPIC-Kitchens-100 action recognition: a verb and a noun head are evaluated
separately (top-1 / top-5 each); the action of a sample is the pair
``(verb, noun)``, and action scores are the outer product
``p_verb[v] * p_noun[n]`` of the two softmax distributions, as in the official
challenge evaluation (which builds them from the top-100 verbs and nouns; for
k <= 100 this gives the same top-k). Action top-1 is therefore correct iff the
top-1 verb and the top-1 noun are both correct. Action ``(v, n)`` has index
``v * num_nouns + n`` for tie-breaking.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidstruct.atomic import atomic_path
from vidstruct.errors import InputError, ShapeError

ArrayLike = np.ndarray | torch.Tensor | Sequence


def _scores(scores: ArrayLike, name: str = "scores") -> torch.Tensor:
    t = torch.as_tensor(np.asarray(scores) if not isinstance(scores, torch.Tensor) else scores).detach().cpu()
    if t.ndim != 2:
        raise ShapeError(f"{name}: expected [N, K] scores, got shape {tuple(t.shape)}")
    return t.double()


def _targets(targets: ArrayLike, n: int, k: int | None = None, name: str = "targets") -> torch.Tensor:
    t = torch.as_tensor(np.asarray(targets) if not isinstance(targets, torch.Tensor) else targets).detach().cpu()
    if t.ndim != 1 or t.shape[0] != n:
        raise ShapeError(f"{name}: expected [N] = [{n}] class indices, got shape {tuple(t.shape)}")
    t = t.long()
    if n and (t.min() < 0 or (k is not None and t.max() >= k)):
        raise InputError(f"{name}: class index out of range [0, {k}): {t.min().item()}..{t.max().item()}")
    return t


def ranking(scores: ArrayLike, k: int | None = None) -> torch.Tensor:
    """``[N, k]`` class indices ranked by score (descending, ties → lower index first)."""
    s = _scores(scores)
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    return order if k is None else order[:, : min(k, s.shape[1])]


def top1(scores: ArrayLike) -> np.ndarray:
    """``[N]`` top-1 predicted class under the stable ranking."""
    return ranking(scores, 1)[:, 0].numpy()


def topk_correct(scores: ArrayLike, targets: ArrayLike, k: int) -> np.ndarray:
    """``[N]`` bool: target among the top-``k`` ranked classes."""
    s = _scores(scores)
    t = _targets(targets, s.shape[0], s.shape[1])
    return (ranking(s, k) == t[:, None]).any(dim=1).numpy()


def topk_accuracy(scores: ArrayLike, targets: ArrayLike, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """``{k: fraction of samples whose target is in the top-k}``."""
    return {k: float(topk_correct(scores, targets, k).mean()) if len(targets) else float("nan") for k in ks}


def confusion_matrix(predictions: ArrayLike, targets: ArrayLike, num_classes: int) -> np.ndarray:
    """``[K, K]`` int64 counts, rows = true class, columns = predicted class.

    ``predictions`` are ``[N]`` class indices, or ``[N, K]`` scores (then their top-1).
    """
    p = np.asarray(predictions.detach().cpu() if isinstance(predictions, torch.Tensor) else predictions)
    if p.ndim == 2:
        p = top1(p)
    t = _targets(targets, p.shape[0], num_classes).numpy()
    p = _targets(p, p.shape[0], num_classes, name="predictions").numpy()
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_class_accuracy(scores: ArrayLike, targets: ArrayLike) -> float:
    """Mean over classes present in ``targets`` of the per-class top-1 recall."""
    s = _scores(scores)
    cm = confusion_matrix(s, targets, s.shape[1])
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float((np.diag(cm)[present] / support[present]).mean())


def per_class_report(scores: ArrayLike, targets: ArrayLike, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """One dict per class: ``name, support, correct, recall, precision, predicted``.

    ``recall`` is ``None`` for classes absent from the targets and ``precision``
    ``None`` for classes never predicted.
    """
    s = _scores(scores)
    if s.shape[1] != len(class_names):
        raise InputError(f"class_names: {len(class_names)} names for {s.shape[1]} score columns")
    cm = confusion_matrix(s, targets, s.shape[1])
    rows = []
    for i, name in enumerate(class_names):
        support, predicted, correct = int(cm[i].sum()), int(cm[:, i].sum()), int(cm[i, i])
        rows.append(
            {
                "name": name,
                "support": support,
                "correct": correct,
                "predicted": predicted,
                "recall": correct / support if support else None,
                "precision": correct / predicted if predicted else None,
            }
        )
    return rows


def classification_metrics(scores: ArrayLike, targets: ArrayLike, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"top1", "top5", "mean_class_accuracy"}`` (keys follow ``ks``)."""
    acc = topk_accuracy(scores, targets, ks)
    out = {f"top{k}": v for k, v in acc.items()}
    out["mean_class_accuracy"] = mean_class_accuracy(scores, targets)
    return out


def action_topk(verb_scores: ArrayLike, noun_scores: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` actions by outer-product score: ``(verbs [N, k], nouns [N, k])``.

    Only the top-``k`` verbs and nouns can form a top-``k`` action (products of
    non-negative scores, same tie rule), so ``k x k`` candidates are ranked
    instead of all ``K_verb * K_noun`` pairs.
    """
    v, n = _scores(verb_scores, "verb_scores"), _scores(noun_scores, "noun_scores")
    if v.shape[0] != n.shape[0]:
        raise ShapeError(f"verb_scores has {v.shape[0]} rows but noun_scores has {n.shape[0]}")
    if (v < 0).any() or (n < 0).any():
        raise ValueError("action scores need non-negative verb / noun scores (probabilities)")
    num_nouns = n.shape[1]
    tv, tn = ranking(v, k), ranking(n, k)  # [N, kv], [N, kn]
    prod = v.gather(1, tv)[:, :, None] * n.gather(1, tn)[:, None, :]  # [N, kv, kn]
    ids = (tv[:, :, None] * num_nouns + tn[:, None, :]).flatten(1)  # action index, for ties
    prod = prod.flatten(1)
    by_id = torch.sort(ids, dim=1, stable=True).indices  # ascending action index first ...
    prod, ids = prod.gather(1, by_id), ids.gather(1, by_id)
    order = torch.sort(prod, dim=1, descending=True, stable=True).indices[:, :k]  # ... then score, stable
    best = ids.gather(1, order)
    return (best // num_nouns).numpy(), (best % num_nouns).numpy()


def epic_action_metrics(
    verb_scores: ArrayLike,
    noun_scores: ArrayLike,
    verb_targets: ArrayLike,
    noun_targets: ArrayLike,
    ks: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """EPIC-Kitchens-100 recognition: ``verb_top1, verb_top5, noun_top1, ..., action_top5``.

    Scores are softmax probabilities of the verb / noun heads (see module doc).
    """
    v, n = _scores(verb_scores, "verb_scores"), _scores(noun_scores, "noun_scores")
    vt = _targets(verb_targets, v.shape[0], v.shape[1], "verb_targets").numpy()
    nt = _targets(noun_targets, n.shape[0], n.shape[1], "noun_targets").numpy()
    out: dict[str, float] = {}
    for k in ks:
        out[f"verb_top{k}"] = float(topk_correct(v, vt, k).mean())
    for k in ks:
        out[f"noun_top{k}"] = float(topk_correct(n, nt, k).mean())
    for k in ks:
        bv, bn = action_topk(v, n, k)
        out[f"action_top{k}"] = float(((bv == vt[:, None]) & (bn == nt[:, None])).any(axis=1).mean())
    return out


def format_report(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of :func:`per_class_report` rows."""
    width = max([len("class")] + [len(r["name"]) for r in rows])
    lines = [f"{'class':<{width}}  support  correct  recall  precision"]
    for r in rows:
        rec = "-" if r["recall"] is None else f"{r['recall']:.3f}"
        prec = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        lines.append(f"{r['name']:<{width}}  {r['support']:>7}  {r['correct']:>7}  {rec:>6}  {prec:>9}")
    return "\n".join(lines)


def plot_confusion_matrix(
    cm: np.ndarray, class_names: Sequence[str], path: str | Path, normalize: bool = True, title: str = ""
) -> Path:
    """Write the confusion matrix as a PNG, atomically (rows = true, columns = predicted; row-normalized if
    ``normalize``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(cm)
    k = cm.shape[0]
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = min(4 + 0.35 * k, 40)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if k <= 60:
        ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=7)
        ax.set_yticks(range(k), labels=list(class_names), fontsize=7)
    if k <= 20:
        threshold = values.max() / 2 if values.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else str(int(values[i, j]))
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if values[i, j] > threshold else "black",
                )
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path
