"""The localization post-processing chain: model outputs → proposals → Soft-NMS → class fusion → segments.

This module is the single definition of how a trained localizer turns
snippet features into scored segments; training-time validation
(:mod:`vidstruct.engine.localization`) and ``vidstruct localize`` both call it.

Per item (a whole video rescaled to ``T`` positions, or one window of ``T``
snippets spanning ``span_s`` seconds from ``offset_s``), :func:`decode_item`:

1. proposals ``(start, end, score)`` in the item's seconds: BMN candidates
   (:func:`~.decode.bmn_proposals`), the relation head's refined top
   proposals (:func:`~.decode.relation_proposals`), or the weak model's CAS
   segments (:func:`~.decode.decode_cas`, class-agnostic);
2. Soft-NMS (:func:`vidstruct.eval.postprocess.soft_nms`; BMN's ActivityNet
   setting by default: Gaussian, σ = 0.4, width-adaptive threshold 0.5 → 0.9),
   keeping ``max_proposals``;
3. class fusion into detections ``(start, end, score, class)``:

   - ``"snippet"``: each proposal takes the backbone's per-snippet class
     probabilities averaged over the positions inside it (restricted to the
     localization classes, renormalized); its ``fusion_top_k`` best classes
     give detections scored ``proposal score × class probability``;
   - ``"video"``: the same with the video-level probabilities (the mean over
     all positions), i.e. top-k video classes × proposal score
     (:func:`~vidstruct.eval.postprocess.fuse_video_classification`);
   - ``"cas"``: the weak model's own classes (its CAS segments);
   - ``"none"``: proposals only.

Then times move to the video (``+ offset_s``, clipped to the duration). Windows
of one video are merged by :func:`merge_items` (Soft-NMS again over the union,
per class for detections) and cut to ``max_segments`` detections.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from vidstruct.errors import ConfigError, InputError

if TYPE_CHECKING:
    from vidstruct.models.localization.checkpoint import LocalizerBundle

__all__ = [
    "FUSIONS",
    "Localization",
    "LocalizedSegment",
    "PostprocessSettings",
    "class_map",
    "decode_item",
    "localize_features",
    "merge_items",
    "run_model",
]

Fusion = Literal["snippet", "video", "cas", "none"]
FUSIONS: tuple[str, ...] = ("snippet", "video", "cas", "none")


@dataclass
class PostprocessSettings:
    """Soft-NMS and fusion settings (stored in the localizer checkpoint; see module doc).

    ``nms``: ``"gaussian"`` / ``"linear"`` / ``"hard"``; ``sigma``: Gaussian width; ``low_threshold`` /
    ``high_threshold``: BMN's width-adaptive tIoU threshold (both ``None``: the fixed ``iou_threshold``);
    ``max_proposals``: proposals kept per video; ``max_segments``: detections kept per video;
    ``fusion`` / ``fusion_top_k``: see module doc; ``peak_ratio``: BMN boundary candidates;
    ``cas_*``, ``class_threshold``, ``video_weight``: the weak model's CAS decoding.
    """

    nms: Literal["gaussian", "linear", "hard"] = "gaussian"
    sigma: float = 0.4
    iou_threshold: float = 0.0
    low_threshold: float | None = 0.5
    high_threshold: float | None = 0.9
    max_proposals: int = 100
    max_segments: int = 100
    fusion: Fusion = "snippet"
    fusion_top_k: int = 2
    peak_ratio: float = 0.5
    cas_thresholds: list[float] = field(default_factory=lambda: [0.025 * i for i in range(1, 20)])
    class_threshold: float = 0.2
    video_weight: float = 0.2
    cas_nms_iou: float = 0.7

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"postprocess.fusion: expected one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.nms not in ("gaussian", "linear", "hard"):
            raise ConfigError(f"postprocess.nms: expected gaussian, linear or hard, got {self.nms!r}")
        if self.max_proposals < 1 or self.max_segments < 1 or self.fusion_top_k < 1:
            raise ConfigError("postprocess: max_proposals, max_segments and fusion_top_k must be ≥ 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PostprocessSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"postprocess: unknown key(s) {unknown} (known: {', '.join(sorted(names))})")
        return cls(**values)


class LocalizedSegment(NamedTuple):
    """One detected action: class name, start / end in seconds of the video, score (a probability product)."""

    label: str
    start_s: float
    end_s: float
    score: float


@dataclass
class Localization:
    """One video (or window): ``proposals [P, 3]`` (start_s, end_s, score) and ``detections [M, 4]``
    (start_s, end_s, score, class index), both in seconds of the video, sorted by decreasing score."""

    proposals: np.ndarray
    detections: np.ndarray


def class_map(classes: list[str], backbone_classes: list[str] | None, fusion: str) -> np.ndarray | None:
    """Column of each localization class in the backbone's probabilities (``None`` for fusions that need none).

    Raises :class:`ConfigError` when ``snippet`` / ``video`` fusion is asked for and a class is missing.
    """
    if fusion not in ("snippet", "video"):
        return None
    if not backbone_classes:
        raise ConfigError(f"postprocess.fusion={fusion!r} needs backbone class probabilities; the features have none")
    index = {c: i for i, c in enumerate(backbone_classes)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise ConfigError(
            f"postprocess.fusion={fusion!r}: localization classes {missing[:3]} are not classes of the backbone "
            f"({len(backbone_classes)} classes); use fusion 'none' or a backbone trained on these classes"
        )
    return np.asarray([index[c] for c in classes], dtype=np.int64)


@torch.no_grad()
def run_model(model: nn.Module, features: torch.Tensor) -> dict[str, torch.Tensor]:
    """``model`` (eval mode) on snippet features ``[B, C, T]``: its output dict on the CPU (floats as float32)."""
    was = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    out = model(features.to(device, torch.float32))
    model.train(was)
    return {k: (v.float() if v.is_floating_point() else v).detach().cpu() for k, v in out.items()}


def _soft_nms(
    rows: np.ndarray, post: PostprocessSettings, duration: float, top_k: int, labels: Any = None
) -> np.ndarray:
    from vidstruct.eval.postprocess import soft_nms

    if rows.shape[0] == 0:
        return rows
    adaptive = post.low_threshold is not None and post.high_threshold is not None
    seg, scores, idx = soft_nms(
        rows[:, :2],
        rows[:, 2],
        method=post.nms,
        sigma=post.sigma,
        iou_threshold=post.iou_threshold,
        low_threshold=post.low_threshold if adaptive else None,
        high_threshold=post.high_threshold if adaptive else None,
        duration=duration if adaptive else None,
        top_k=top_k,
        labels=labels,
    )
    out = rows[idx].copy()
    out[:, 2] = scores
    return out


def _mean_probs_inside(props: np.ndarray, probs: np.ndarray, span_s: float) -> np.ndarray:
    """Class probabilities ``[P, K]`` averaged over the grid positions whose centres lie in each proposal
    (the nearest position when none does); ``probs [T, K]``."""
    T = probs.shape[0]
    csum = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0, dtype=np.float64)])
    u0, u1 = props[:, 0] / span_s * T - 0.5, props[:, 1] / span_s * T - 0.5
    lo = np.clip(np.ceil(u0 - 1e-9), 0, T - 1).astype(np.int64)
    hi = np.clip(np.floor(u1 + 1e-9), 0, T - 1).astype(np.int64)
    empty = hi < lo
    mid = np.clip(np.rint((u0 + u1) / 2), 0, T - 1).astype(np.int64)
    lo, hi = np.where(empty, mid, lo), np.where(empty, mid, hi)
    return (csum[hi + 1] - csum[lo]) / (hi - lo + 1)[:, None]


def _normalize(p: np.ndarray) -> np.ndarray:
    s = p.sum(axis=-1, keepdims=True)
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / p.shape[-1])


def _fuse(props: np.ndarray, probs: np.ndarray | None, post: PostprocessSettings, span_s: float) -> np.ndarray:
    """Detections ``[M, 4]`` (item seconds) from proposals ``[P, 3]`` and mapped class probabilities ``[T, K]``."""
    if post.fusion == "none" or props.shape[0] == 0:
        return np.zeros((0, 4))
    if probs is None:
        raise InputError(f"fusion {post.fusion!r}: backbone class probabilities are required (probs=None)")
    if post.fusion == "video":
        per = np.broadcast_to(_normalize(probs.mean(axis=0)), (props.shape[0], probs.shape[1]))
    else:
        per = _normalize(_mean_probs_inside(props, probs, span_s))
    k = min(post.fusion_top_k, per.shape[1])
    top = np.argsort(-per, axis=1, kind="stable")[:, :k]
    scores = props[:, 2:3] * np.take_along_axis(per, top, axis=1)
    out = np.concatenate(
        [np.repeat(props[:, :2], k, axis=0), scores.reshape(-1, 1), top.reshape(-1, 1).astype(np.float64)], axis=1
    )
    return out[np.argsort(-out[:, 2], kind="stable")]


def decode_item(
    kind: str,
    outputs: dict[str, torch.Tensor],
    index: int,
    *,
    span_s: float,
    post: PostprocessSettings,
    offset_s: float = 0.0,
    video_duration_s: float | None = None,
    probs: np.ndarray | torch.Tensor | None = None,
    use_relation: bool = True,
) -> Localization:
    """Proposals and detections of item ``index`` of a batch of model ``outputs`` (see module doc).

    ``kind``: ``"bmn"`` or ``"weak_cas"``; ``span_s``: seconds the item's ``T`` positions span;
    ``probs``: ``[T, K]`` backbone probabilities of the localization classes on the item's grid (for
    ``snippet`` / ``video`` fusion). Results are in seconds of the video (``+ offset_s``, clipped to
    ``video_duration_s``).
    """
    from vidstruct.models.localization.decode import bmn_proposals, decode_cas, relation_proposals
    from vidstruct.models.localization.weak import WeakCAS

    b = index
    if kind == "bmn":
        if use_relation and "rel_cls_logit" in outputs:
            cand = relation_proposals(outputs, b, duration_s=span_s).double().numpy()
        else:
            cand = (
                bmn_proposals(
                    outputs["start"][b],
                    outputs["end"][b],
                    outputs["confidence"][b],
                    duration_s=span_s,
                    peak_ratio=post.peak_ratio,
                )
                .double()
                .numpy()
            )
        props = _soft_nms(cand, post, span_s, post.max_proposals)
        p = None if probs is None else np.asarray(probs, dtype=np.float64)
        dets = _fuse(props, p, post, span_s)
    elif kind == "weak_cas":
        cas, video = WeakCAS.probabilities({k: v[b : b + 1] for k, v in outputs.items()})
        dets = (
            decode_cas(
                cas[0],
                video[0],
                duration_s=span_s,
                thresholds=post.cas_thresholds,
                class_threshold=post.class_threshold,
                video_weight=post.video_weight,
                nms_iou=post.cas_nms_iou,
            )
            .double()
            .numpy()
        )
        props = _soft_nms(dets[:, :3].copy(), post, span_s, post.max_proposals)
    else:
        raise InputError(f"localizer kind: expected 'bmn' or 'weak_cas', got {kind!r}")
    props, dets = props.copy(), dets.copy()
    for rows in (props, dets):
        rows[:, :2] += offset_s
        if video_duration_s is not None:
            rows[:, :2] = rows[:, :2].clip(0.0, video_duration_s)
    props = props[props[:, 1] > props[:, 0]]
    dets = dets[dets[:, 1] > dets[:, 0]]
    return Localization(props, dets[: post.max_segments])


def merge_items(parts: list[Localization], post: PostprocessSettings, duration_s: float) -> Localization:
    """One video's localization from its windows: Soft-NMS over the union (per class for detections)."""
    if len(parts) == 1:
        return parts[0]
    props = np.concatenate([p.proposals for p in parts]) if parts else np.zeros((0, 3))
    dets = np.concatenate([p.detections for p in parts]) if parts else np.zeros((0, 4))
    props = _soft_nms(props, post, duration_s, post.max_proposals)
    dets = _soft_nms(
        dets, post, duration_s, post.max_segments, labels=dets[:, 3].astype(np.int64) if len(dets) else None
    )
    return Localization(props, dets)


def _window_starts(n: int, window: int, stride: int) -> list[int]:
    from vidstruct.data.localization.datasets import window_starts

    return window_starts(n, window, stride)


def localize_video(
    bundle: LocalizerBundle,
    features: Any,
    duration_s: float | None = None,
    probs: np.ndarray | torch.Tensor | None = None,
) -> Localization:
    """Proposals and detections of one video (see :func:`localize_features` for the arguments)."""
    from vidstruct.data.features import VideoFeatures, rescale_features

    meta = bundle.features
    T = int(meta["temporal_scale"])
    cmap = bundle.class_map
    post = bundle.postprocess
    if isinstance(features, VideoFeatures):
        duration = float(duration_s or features.duration_s)
        raw = np.asarray(features.features, dtype=np.float32)
        raw_probs = None if features.probs is None else np.asarray(features.probs, dtype=np.float32)
        if raw.shape[1] != int(meta["feature_dim"]):
            raise InputError(f"features: expected feature_dim {meta['feature_dim']}, got {raw.shape[1]}")
        if meta.get("mode", "rescale") == "window":
            return _localize_windows(bundle, raw, raw_probs, features.stride_s, features.window_s, duration)
        grid = rescale_features(raw, features.centers_s, duration, T)
        grid_probs = None if raw_probs is None else rescale_features(raw_probs, features.centers_s, duration, T)
        feats = torch.from_numpy(grid.T.copy())
        probs = grid_probs
    else:
        feats = torch.as_tensor(features, dtype=torch.float32)
        if feats.ndim != 2 or feats.shape[0] != int(meta["feature_dim"]) or feats.shape[1] != T:
            raise InputError(
                f"features: expected [C, T] = [{meta['feature_dim']}, {T}] (rescaled snippet features) or "
                f"VideoFeatures, got {tuple(feats.shape)}"
            )
        if duration_s is None or not duration_s > 0:
            raise InputError(
                f"duration_s: expected a positive number of seconds with [C, T] features, got {duration_s}"
            )
        duration = float(duration_s)
        if probs is not None:
            probs = np.asarray(probs, dtype=np.float32)
            if probs.ndim != 2 or probs.shape[1] != T:
                raise InputError(f"probs: expected [K, T] on the features' grid (T = {T}), got {tuple(probs.shape)}")
            probs = probs.T
    mapped = None if probs is None or cmap is None else np.asarray(probs)[:, cmap]
    if cmap is not None and mapped is None:
        raise InputError(f"fusion {post.fusion!r}: this localizer needs the backbone's class probabilities (probs)")
    out = run_model(bundle.model, feats[None])
    return decode_item(bundle.kind, out, 0, span_s=duration, post=post, video_duration_s=duration, probs=mapped)


def _localize_windows(
    bundle: LocalizerBundle,
    raw: np.ndarray,
    raw_probs: np.ndarray | None,
    stride_s: float,
    window_s: float,
    duration: float,
) -> Localization:
    meta, post, cmap = bundle.features, bundle.postprocess, bundle.class_map
    T = int(meta["temporal_scale"])
    stride = int(meta.get("window_stride") or max(1, T // 2))
    if cmap is not None and raw_probs is None:
        raise InputError(f"fusion {post.fusion!r}: this localizer needs the backbone's class probabilities (probs)")
    parts = []
    for s in _window_starts(raw.shape[0], T, stride):
        chunk = np.zeros((T, raw.shape[1]), np.float32)
        piece = raw[s : s + T]
        chunk[: piece.shape[0]] = piece
        mapped = None
        if cmap is not None:
            mapped = np.zeros((T, cmap.size))
            mapped[: piece.shape[0]] = raw_probs[s : s + T][:, cmap]  # type: ignore[index]
        out = run_model(bundle.model, torch.from_numpy(chunk.T.copy())[None])
        offset = s * stride_s + window_s / 2 - stride_s / 2
        parts.append(
            decode_item(
                bundle.kind, out, 0, span_s=T * stride_s, post=post, offset_s=offset, video_duration_s=duration,
                probs=mapped,
            )
        )  # fmt: skip
    return merge_items(parts, post, duration)


def localize_features(
    bundle: LocalizerBundle,
    features: Any,
    duration_s: float | None = None,
    probs: np.ndarray | torch.Tensor | None = None,
) -> list[LocalizedSegment]:
    """Scored segments of one video, best first: the whole chain of the module doc.

    Args:
        bundle: :func:`~vidstruct.models.localization.checkpoint.load_localizer`'s result.
        features: a :class:`~vidstruct.data.features.VideoFeatures` (raw snippets: rescaled to the
            checkpoint's ``temporal_scale``, or cut into windows for window-mode localizers; its ``probs``
            are used), or a float tensor / array ``[C, T]`` already on the ``T``-position grid.
        duration_s: video duration in seconds (required with ``[C, T]`` features; default: the
            VideoFeatures' duration).
        probs: with ``[C, T]`` features, the backbone's softmax probabilities ``[K, T]`` on the same grid
            (``K`` = the backbone's classes; needed for ``snippet`` / ``video`` fusion).

    Returns:
        ``LocalizedSegment(label, start_s, end_s, score)`` rows, at most ``postprocess.max_segments``;
        with fusion ``"none"`` the proposals, labelled ``"action"``.
    """
    loc = localize_video(bundle, features, duration_s, probs)
    if bundle.postprocess.fusion == "none":
        return [LocalizedSegment("action", float(s), float(e), float(p)) for s, e, p in loc.proposals]
    return [LocalizedSegment(bundle.classes[int(c)], float(s), float(e), float(p)) for s, e, p, c in loc.detections]
