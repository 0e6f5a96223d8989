"""Untrimmed video in, scored action segments out: a trained temporal localizer ready for inference.

A :class:`Localizer` pairs a localizer checkpoint (``vidstruct.localizer/1``, see
:mod:`vidstruct.models.localization.checkpoint`) with the recognition backbone whose snippet features it
was trained on. The chain is exactly the training-time one, nothing is re-implemented here:

1. :func:`vidstruct.pipeline.features.snippet_features`: snippets of ``window_s`` seconds every
   ``stride_s`` seconds (both recorded in the localizer checkpoint), streamed through the backbone →
   features ``[N, C]`` and softmax class probabilities ``[N, K]``;
2. :func:`vidstruct.pipeline.localization_chain.localize_features`: the localizer's model, relation
   refinement, decoding, Soft-NMS and class fusion → ``(label, start_s, end_s, score)`` segments.

The backbone defaults to the file recorded in the localizer checkpoint. Its SHA-256 must equal the recorded
one (features of another backbone mean nothing to the localizer) unless ``force=True``; even then its
feature size and (for class fusion) its class list must match.

Scores: for BMN localizers a product of probabilities (start · end · confidence maps, times the fused class
probability), decayed by Soft-NMS, so in ``[0, 1]``. The weakly supervised model's scores (outer-inner
contrast plus a share of the video score) are mapped onto ``[0, 1]`` by ``decode_cas``, keeping their ranking;
they rank segments but are not calibrated probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidstruct.device import resolve_device
from vidstruct.errors import CheckpointError, InputError
from vidstruct.models.checkpoint import sha256_file
from vidstruct.models.localization.checkpoint import LocalizerBundle, load_localizer
from vidstruct.pipeline.features import snippet_features
from vidstruct.pipeline.localization_chain import Segment, localize_features
from vidstruct.pipeline.recognizer import Recognizer, resolve_model_checkpoint

__all__ = ["LocalizationResult", "Localizer", "Segment", "resolve_backbone"]


@dataclass
class LocalizationResult:
    """Segments of one video sorted by decreasing score (ties keep the localizer's order)."""

    video: str
    duration_s: float
    segments: list[Segment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"video", "duration_s", "segments": [{"label", "start_s", "end_s", "score"}, ...]}``."""
        return {
            "video": self.video,
            "duration_s": self.duration_s,
            "segments": [s.to_dict() for s in self.segments],
        }


def resolve_backbone(features_meta: dict[str, Any], backbone: str | Path | None, *, force: bool = False) -> Path:
    """The backbone checkpoint file to use for a localizer whose feature metadata is ``features_meta``.

    ``backbone`` (a file or a run directory holding ``model.pt``) defaults to the recorded
    ``backbone_checkpoint``. Raises :class:`CheckpointError` when the file is missing, or when its SHA-256
    differs from the recorded ``backbone_sha256`` and ``force`` is false.
    """
    recorded = features_meta.get("backbone_checkpoint")
    if backbone is None:
        if not recorded:
            raise CheckpointError("the localizer checkpoint records no backbone checkpoint; pass --backbone CKPT")
        path = Path(str(recorded))
        if not path.exists():
            raise CheckpointError(
                f"{path}: backbone checkpoint recorded in the localizer not found; pass --backbone CKPT "
                "(the recognition checkpoint its features were extracted with)"
            )
    else:
        path = Path(backbone)
        if not path.exists():
            raise CheckpointError(f"{path}: backbone checkpoint not found")
    path = resolve_model_checkpoint(path)
    expected = features_meta.get("backbone_sha256")
    if expected and not force:
        got = sha256_file(path)
        if got != expected:
            raise CheckpointError(
                f"{path}: backbone sha256 {got[:12]}… differs from the one the localizer was trained on "
                f"({str(expected)[:12]}…, {recorded}); pass the right --backbone, or --force to use it anyway"
            )
    return path


class Localizer:
    """A localizer bundle plus the backbone that feeds it (see module doc)."""

    def __init__(self, bundle: LocalizerBundle, recognizer: Recognizer, *, batch_size: int = 8) -> None:
        """``bundle``: the loaded localizer checkpoint;
        ``recognizer``: :class:`~vidstruct.pipeline.recognizer.Recognizer` of the matching backbone."""
        meta = bundle.features
        dim = getattr(recognizer.model, "feature_dim", None)
        if dim is not None and int(dim) != int(meta["feature_dim"]):
            raise CheckpointError(
                f"{bundle.path}: the localizer expects {meta['feature_dim']}-dim features, the backbone gives {dim}"
            )
        if bundle.class_map is not None:  # class fusion indexes the backbone's probabilities by the recorded names
            recorded = list(meta.get("backbone_classes") or [])
            if list(recognizer.classes) != recorded:
                raise CheckpointError(
                    f"{bundle.path}: the backbone's classes {list(recognizer.classes)[:4]}… differ from those the "
                    f"localizer fuses with ({recorded[:4]}…)"
                )
        self.bundle = bundle
        self.recognizer = recognizer
        self.window_s = float(meta["window_s"])
        self.stride_s = float(meta["stride_s"])
        self.batch_size = batch_size

    @property
    def classes(self) -> list[str]:
        return list(self.bundle.classes)

    @classmethod
    def from_checkpoint(
        cls,
        localizer_ckpt: str | Path,
        *,
        backbone: str | Path | None = None,
        device: str = "auto",
        force: bool = False,
        batch_size: int = 8,
    ) -> Localizer:
        """Load ``localizer_ckpt`` (file or run directory) and its backbone (see :func:`resolve_backbone`)."""
        dev = resolve_device(device)
        bundle = load_localizer(localizer_ckpt, device=dev)
        path = resolve_backbone(bundle.features, backbone, force=force)
        return cls(bundle, Recognizer.from_checkpoint(path, device=str(dev)), batch_size=batch_size)

    def features(self, video_path: str | Path) -> Any:
        """Snippet features of ``video_path`` at the localizer's window / stride
        (:class:`~vidstruct.pipeline.features.ExtractedVideo`: ``features [N, C]``, ``probs [N, K]``)."""
        return snippet_features(
            self.recognizer, video_path, window_s=self.window_s, stride_s=self.stride_s, batch_size=self.batch_size
        )

    def localize(
        self, video_path: str | Path, *, top_k: int | None = None, min_score: float = 0.0
    ) -> LocalizationResult:
        """Scored segments of one video, best first; ``top_k`` keeps the best ``top_k`` (``None``/0: all the
        localizer keeps, at most ``postprocess.max_segments``), ``min_score`` drops lower scores."""
        if top_k is not None and top_k < 0:
            raise InputError(f"top_k must be >= 0, got {top_k}")
        if not 0.0 <= min_score <= 1.0:
            raise InputError(f"min_score must be in [0, 1], got {min_score}")
        feats = self.features(video_path)
        rows = localize_features(self.bundle, feats)
        segments = [Segment(r.label, r.start_s, r.end_s, min(1.0, max(0.0, r.score))) for r in rows]
        segments.sort(key=lambda s: -s.score)
        segments = [s for s in segments if s.score >= min_score]
        if top_k:
            segments = segments[:top_k]
        return LocalizationResult(str(video_path), float(feats.duration_s), segments)
