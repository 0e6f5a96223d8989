"""EPIC-Kitchens-100 action recognition, equal to the C1 challenge's ``evaluate.py``.

Protocol (``epic-kitchens/C1-Action-Recognition``, ``evaluate.py`` with ``utils/``):

- the evaluated segments are those of the results file (each narration id is looked up in the labels; labels
  without results are not evaluated, as the official ``labels.loc[narration_ids]``);
- verb / noun: top-1 and top-5 accuracy of the ranking of ``verb_output`` / ``noun_output`` (any monotonic
  scores);
- action: the official script takes the top-100 verbs and the top-100 nouns of each segment, applies a softmax
  to their outputs and ranks the ``100 x 100`` verb-noun pairs by the product of the two; action top-k counts the
  segment correct when its ``(verb_class, noun_class)`` is among the first ``k`` pairs. The outputs are treated as
  logits whatever they are (a file of probabilities is ranked by ``exp(p_verb + p_noun)``, exactly as the
  official script ranks it), so here too the action scores are the product of the row-wise softmaxes of the
  stored outputs (:func:`vidstruct.eval.classification.action_topk`).
  The top-100 cut cannot change a top-1 or top-5 action: a pair can be among the first ``k`` products only if
  its verb is among the first ``k`` verbs and its noun among the first ``k`` nouns (every pair with a better verb
  and the same noun scores higher), so for ``k <= 100`` the top-k pairs over all ``V x K`` combinations are the
  top-k over the top-100 ones; only ties at the cut could differ;
- ``tail_*_accuracy_at_1``: top-1 over the segments whose verb (``tail_verb``), noun (``tail_noun``), or verb *or*
  noun (``tail_action``) is a tail class (``EPIC_100_tail_{verbs,nouns}.csv``);
- ``unseen_*_accuracy_at_1``: top-1 over the segments of the participants of
  ``EPIC_100_unseen_participant_ids_*.csv``;
- metrics in percent, with the official names (``all_verb_accuracy_at_1`` ...).

Differences (documented choices):

- ties: classes with equal scores rank lower class index first (action ``(v, n)`` by ``v * K + n``), the rule of
  :mod:`vidstruct.eval.classification`; the official ``argsort()[::-1]`` ranks tied items in the order of numpy's
  unstable sort, reversed. Float outputs of a network almost never tie;
- the official softmax runs over the whole ``[N, 100]`` array at once (``scipy.special.softmax`` without an
  axis), in the outputs' precision (float32), so segments whose outputs lie far below the largest output of the
  file underflow to all-zero action scores there and their action ranking degenerates; here the softmax is per
  segment, in float64 (the documented verb x noun probability);
- a subset without segments (no tail segment, no unseen participant) is left out of the output with a warning;
  the official script omits ``unseen_*`` likewise but fails on an empty tail subset;
- a results narration id absent from the labels, or given twice, is a one-line error (the official script
  raises ``KeyError`` / evaluates the duplicate twice).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import numpy as np
import torch

from vidstruct.errors import AnnotationError
from vidstruct.eval.classification import action_topk, topk_correct
from vidstruct.eval.epic.labels import EpicLabels
from vidstruct.eval.epic.results import RecognitionResults

__all__ = ["METRIC_NAMES", "evaluate_epic_recognition"]

log = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = (
    "all_verb_accuracy_at_1",
    "all_verb_accuracy_at_5",
    "all_noun_accuracy_at_1",
    "all_noun_accuracy_at_5",
    "all_action_accuracy_at_1",
    "all_action_accuracy_at_5",
    "tail_verb_accuracy_at_1",
    "tail_noun_accuracy_at_1",
    "tail_action_accuracy_at_1",
    "unseen_verb_accuracy_at_1",
    "unseen_noun_accuracy_at_1",
    "unseen_action_accuracy_at_1",
)


def _softmax(x: np.ndarray) -> torch.Tensor:
    """Row-wise softmax ``[N, C]`` in float64."""
    return torch.softmax(torch.as_tensor(x, dtype=torch.float64), dim=1)


def _percent(correct: np.ndarray, mask: np.ndarray) -> float:
    return float(100.0 * correct[mask].mean())


def evaluate_epic_recognition(
    labels: EpicLabels,
    results: RecognitionResults,
    *,
    tail_verbs: Collection[int] | None = None,
    tail_nouns: Collection[int] | None = None,
    unseen_participants: Collection[str] | None = None,
) -> dict[str, float | int]:
    """The C1 metrics (module docstring) of ``results`` against ``labels``, in percent, plus segment counts.

    Tail metrics need both ``tail_verbs`` and ``tail_nouns``; unseen metrics need ``unseen_participants``.
    Keys absent from the answer were not computed (no such option, or an empty subset).
    """
    if not results.narration_ids:
        raise AnnotationError(f"{results.source}: no results to evaluate")
    row = labels.row_of()
    idx = np.empty(len(results.narration_ids), dtype=np.int64)
    for i, nid in enumerate(results.narration_ids):
        if nid not in row:
            raise AnnotationError(
                f"{results.source}: narration id {nid!r} (entry {i}) is not in the labels {labels.source}"
            )
        idx[i] = row[nid]
    vt, nt = labels.verb[idx], labels.noun[idx]
    num_verbs, num_nouns = results.verb_output.shape[1], results.noun_output.shape[1]
    for name, t, k in (("verb", vt, num_verbs), ("noun", nt, num_nouns)):
        if t.size and t.max() >= k:
            i = int(np.argmax(t >= k))
            raise AnnotationError(
                f"{labels.source}: segment {results.narration_ids[i]!r} has {name} class {int(t[i])} but "
                f"{results.source} scores {k} {name} classes"
            )
    correct: dict[tuple[str, int], np.ndarray] = {}
    for k in (1, 5):
        correct["verb", k] = topk_correct(results.verb_output, vt, k)
        correct["noun", k] = topk_correct(results.noun_output, nt, k)
        best_v, best_n = action_topk(_softmax(results.verb_output), _softmax(results.noun_output), k)
        correct["action", k] = ((best_v == vt[:, None]) & (best_n == nt[:, None])).any(axis=1)
    everyone = np.ones(idx.size, dtype=bool)
    out: dict[str, float | int] = {}
    for task in ("verb", "noun", "action"):
        for k in (1, 5):
            out[f"all_{task}_accuracy_at_{k}"] = _percent(correct[task, k], everyone)
    counts: dict[str, int] = {"num_segments": int(idx.size), "num_labels_without_results": len(row) - int(idx.size)}
    if tail_verbs is not None and tail_nouns is not None:
        tv = np.isin(vt, np.fromiter(tail_verbs, np.int64))
        tn = np.isin(nt, np.fromiter(tail_nouns, np.int64))
        for task, mask in (("verb", tv), ("noun", tn), ("action", tv | tn)):
            counts[f"num_tail_{task}_segments"] = int(mask.sum())
            if mask.any():
                out[f"tail_{task}_accuracy_at_1"] = _percent(correct[task, 1], mask)
            else:
                log.warning("no segment of a tail %s class: tail_%s_accuracy_at_1 left out", task, task)
    if unseen_participants is not None:
        unseen = np.array([labels.participant_ids[i] in unseen_participants for i in idx], dtype=bool)
        counts["num_unseen_segments"] = int(unseen.sum())
        if unseen.any():
            for task in ("verb", "noun", "action"):
                out[f"unseen_{task}_accuracy_at_1"] = _percent(correct[task, 1], unseen)
        else:
            log.warning("there are no unseen segments to evaluate: unseen_* metrics left out")
    ordered = {name: out[name] for name in METRIC_NAMES if name in out}
    return {**ordered, **counts}
