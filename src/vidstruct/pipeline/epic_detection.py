"""EPIC-Kitchens-100 action detection (challenge C2): class-agnostic proposals labelled (verb, noun) from the
recognition backbone's snippet probabilities, written as the C2 submission JSON.

The chain, per video:

1. snippet features ``[N, D]`` of the EPIC verb + noun backbone (``vidstruct extract-features``; a store of an
   ``epic_verb_noun`` model has no ``probs`` files, its two heads do not fit one softmax);
2. proposals ``(start_s, end_s, score)``: the localizer (BMN, with relation encoding, trained on the EPIC CSV's
   segments with ``postprocess.fusion: none``) on sliding windows, merged and Soft-NMSed
   (:func:`vidstruct.pipeline.localization_chain.localize_video`);
3. per snippet, the backbone's verb and noun softmax probabilities: its verb / noun heads applied to the stored
   pooled features (exactly what the full forward pass gives in eval mode: the heads are dropout → linear);
4. per proposal, ``p(verb)`` and ``p(noun)``: those probabilities averaged over the snippets whose centre lies in
   ``[start_s, end_s]`` (none inside: the snippet whose centre is nearest the proposal's midpoint);
5. entries: the ``top_verbs`` most probable verbs × the ``top_nouns`` most probable nouns of each proposal
   (5 × 5 = 25 by default, as challenge entries keep several combinations per segment), each
   ``score = proposal score × p(verb) × p(noun)`` (a product of probabilities, so in ``[0, 1]``); the verb and
   noun ids are the heads' class indices, i.e. the ``id`` column order of ``EPIC_100_verb_classes.csv`` /
   ``EPIC_100_noun_classes.csv``. An entry's ``verb`` / ``noun`` are the same as its ``action`` ``"v,n"``, so
   the verb and noun tasks see each verb 5 times per proposal, with the scores of its 5 noun pairings.

Entries of a video are listed by decreasing score (ties keep proposal order, then verb rank, then noun rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidstruct.data.features import FeatureStore, VideoFeatures
from vidstruct.errors import CheckpointError, InputError
from vidstruct.eval.epic.detection import detection_entries, write_detection_submission
from vidstruct.models.localization.checkpoint import LocalizerBundle, load_localizer
from vidstruct.pipeline.localization_chain import localize_video
from vidstruct.pipeline.localizer import resolve_backbone
from vidstruct.pipeline.recognizer import Recognizer

__all__ = [
    "EpicDetector",
    "proposal_entries",
    "proposal_probs",
    "snippet_verb_noun_probs",
    "write_epic_submission",
]


@torch.no_grad()
def snippet_verb_noun_probs(model: torch.nn.Module, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(verb [N, V], noun [N, K])`` softmax probabilities of an ``epic_verb_noun`` model's heads applied to its
    pooled snippet features ``features [N, D]`` (float32)."""
    head = getattr(model, "head", None)
    if head is None or not hasattr(model, "verb_classes"):
        raise CheckpointError(f"{type(model).__name__}: not an EPIC verb + noun model (epic_verb_noun)")
    head.eval()
    x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=next(model.parameters()).device)
    out = head(x)
    verb = torch.softmax(out["verb"].float(), dim=-1).cpu().numpy()
    noun = torch.softmax(out["noun"].float(), dim=-1).cpu().numpy()
    return verb, noun


def proposal_probs(probs: np.ndarray, centers_s: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """Mean of ``probs [N, K]`` over the snippets whose centre (``centers_s [N]``, seconds) lies in
    ``[start_s, end_s]``; with none inside, the row of the snippet nearest the midpoint (first on a tie)."""
    centers = np.asarray(centers_s, dtype=np.float64)
    inside = (centers >= start_s) & (centers <= end_s)
    if inside.any():
        return np.asarray(probs, dtype=np.float64)[inside].mean(axis=0)
    return np.asarray(probs[int(np.argmin(np.abs(centers - 0.5 * (start_s + end_s))))], dtype=np.float64)


def _top(p: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values of ``p``, largest first; equal values: lower index first."""
    return np.argsort(-p, kind="stable")[: min(k, p.size)]


def proposal_entries(
    proposals: np.ndarray | Sequence[Sequence[float]],
    verb_probs: np.ndarray,
    noun_probs: np.ndarray,
    centers_s: np.ndarray,
    *,
    top_verbs: int = 5,
    top_nouns: int = 5,
) -> list[dict[str, Any]]:
    """One video's C2 entries (module doc, steps 4-5) from ``proposals [P, 3]`` (start_s, end_s, score) and the
    snippets' ``verb_probs [N, V]`` / ``noun_probs [N, K]`` centred at ``centers_s [N]`` seconds; best first."""
    if top_verbs < 1 or top_nouns < 1:
        raise InputError(f"top_verbs and top_nouns must be >= 1, got {top_verbs}, {top_nouns}")
    props = np.asarray(proposals, dtype=np.float64).reshape(-1, 3)
    segs, scores, verbs, nouns = [], [], [], []
    for start, end, score in props:
        pv = proposal_probs(verb_probs, centers_s, start, end)
        pn = proposal_probs(noun_probs, centers_s, start, end)
        for v in _top(pv, top_verbs):
            for n in _top(pn, top_nouns):
                segs.append((start, end))
                scores.append(score * pv[v] * pn[n])
                verbs.append(v)
                nouns.append(n)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if not scores:
        return []
    return detection_entries(
        np.asarray(segs)[order], np.asarray(scores)[order], np.asarray(verbs)[order], np.asarray(nouns)[order]
    )


@dataclass
class EpicDetector:
    """A proposal localizer (``fusion: none``) and the EPIC verb + noun backbone its features came from."""

    bundle: LocalizerBundle
    backbone: torch.nn.Module
    top_verbs: int = 5
    top_nouns: int = 5

    @classmethod
    def from_checkpoint(
        cls,
        localizer: str | Path,
        *,
        backbone: str | Path | None = None,
        force: bool = False,
        top_verbs: int = 5,
        top_nouns: int = 5,
    ) -> EpicDetector:
        """Load ``localizer`` (``localizer.pt`` or its run directory) and its backbone (by default the checkpoint
        recorded in it; its SHA-256 must match unless ``force``), both on the CPU."""
        bundle = load_localizer(localizer, device=torch.device("cpu"))
        path = resolve_backbone(bundle.features, backbone, force=force)
        model = Recognizer.from_checkpoint(path, device="cpu").model
        if not hasattr(model, "verb_classes"):
            raise CheckpointError(f"{path}: backbone is not an EPIC verb + noun model (model epic_verb_noun)")
        if int(model.feature_dim) != int(bundle.features["feature_dim"]):
            raise CheckpointError(
                f"{path}: backbone gives {model.feature_dim}-dim features, the localizer expects "
                f"{bundle.features['feature_dim']}"
            )
        return cls(bundle, model, top_verbs, top_nouns)

    @property
    def num_verbs(self) -> int:
        return len(self.backbone.verb_classes)  # type: ignore[arg-type]

    @property
    def num_nouns(self) -> int:
        return len(self.backbone.noun_classes)  # type: ignore[arg-type]

    def detect(self, features: VideoFeatures) -> list[dict[str, Any]]:
        """C2 entries of one video's snippet features (:class:`~vidstruct.data.features.VideoFeatures`)."""
        proposals = localize_video(self.bundle, features).proposals
        verb, noun = snippet_verb_noun_probs(self.backbone, features.features)
        return proposal_entries(
            proposals, verb, noun, features.centers_s, top_verbs=self.top_verbs, top_nouns=self.top_nouns
        )

    def detect_store(
        self, features_dir: str | Path, video_ids: Sequence[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Entries per video of a feature directory (``video_ids``: those videos, default all), in that order.

        Raises :class:`~vidstruct.errors.InputError` when a video has no features or the directory was extracted
        with another configuration (backbone, window, stride) than the localizer's.
        """
        store = FeatureStore(features_dir)
        recorded = self.bundle.features.get("config_hash")
        if recorded and store.config_hash != recorded:
            raise InputError(
                f"{features_dir}: features of config {store.config_hash}, the localizer was trained on {recorded} "
                "(another backbone, window or stride)"
            )
        ids = list(store.video_ids) if video_ids is None else list(video_ids)
        missing = [v for v in ids if v not in store]
        if missing:
            raise InputError(f"{features_dir}: no features for video {missing[0]!r} ({len(missing)} missing)")
        return {vid: self.detect(store.load(vid)) for vid in ids}


def write_epic_submission(
    detector: EpicDetector,
    features_dir: str | Path,
    out: str | Path,
    *,
    video_ids: Sequence[str] | None = None,
    sls: tuple[int, int, int] = (0, 0, 0),
) -> dict[str, list[dict[str, Any]]]:
    """Detect every video (``video_ids``, default all of ``features_dir``) and write the C2 submission to ``out``
    (atomically); returns the results written."""
    results = detector.detect_store(features_dir, video_ids)
    write_detection_submission(out, results, sls=sls)
    return results
