"""A similar-moments query by an uploaded clip: the clip's windows embedded with the backbone of a collection's
embedding space, then queried like a span of a collection video (:mod:`.query`).

Which space (so which backbone and window settings): ``profile`` (an analysis profile: its recognizer), or
``model`` (a space key as the answers' ``model.key`` give it), or by default the space of the collection's newest
complete analysis with embeddings. For a ``model`` (or the default) the backbone is loaded through the profile that
made the space's newest analysis, and must still be the same checkpoint (SHA-256); the window length and stride are
those recorded by that analysis. Only that backbone is loaded (not the profile's shot detector, localizer or
actor models), and kept per process while its checkpoint file is unchanged (:mod:`.backbones`: a bounded LRU).

The clip's windows follow the analysis pipeline exactly (:func:`~vidstruct.pipeline.analyze.windows.plan_windows`,
:class:`~vidstruct.pipeline.analyze.windows.WindowTap` fed by one decode pass); the query vector is the mean of
their L2-normalised embeddings, normalised again, as for a span of ``[0, clip duration]``. Clips are at most
:data:`MAX_CLIP_S` seconds and at least one window long. One clip is embedded at a time per process
(:data:`_ONE_AT_A_TIME`); a request waiting longer than :data:`WAIT_S` seconds for its turn is a 503.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.errors import VidstructError
from vidstruct.io import VideoReader, probe
from vidstruct.io.errors import VideoDecodeError
from vidstruct.pipeline.analyze.models import Backbone
from vidstruct.pipeline.analyze.segments import MIN_SPAN_S
from vidstruct.pipeline.analyze.taps import decode_once, decode_short_side
from vidstruct.pipeline.analyze.windows import WindowTap, plan_windows
from vidstruct.service.db.models import Analysis
from vidstruct.service.errors import NotFoundError, ServiceError, UnprocessableError
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.similar.backbones import profile_backbone
from vidstruct.service.similar.query import SimilarQuery, group_moments, nearest_windows
from vidstruct.service.similar.space import EmbeddingSpace
from vidstruct.service.similar.vectors import current_embedded, normalize

__all__ = [
    "MAX_CLIP_S",
    "WAIT_S",
    "BusyError",
    "ClipModel",
    "ClipWindows",
    "embed_clip",
    "resolve_model",
    "search_clip",
]

#: longest clip (seconds) a query may upload
MAX_CLIP_S = 60.0
#: longest wait (seconds) for the clip embedded before this one
WAIT_S = 60.0
_EPS_S = 1e-6
_ONE_AT_A_TIME = threading.BoundedSemaphore(1)


class BusyError(ServiceError):
    """Another clip is being embedded in this process for longer than :data:`WAIT_S`."""

    status, title = 503, "Service Unavailable"


@dataclass(frozen=True)
class ClipModel:
    """The space searched, its backbone, the window length and stride (seconds), the profile it came from and
    the windows per forward pass (the profile's, as analysis batches them)."""

    space: EmbeddingSpace
    backbone: Backbone
    window_s: float
    stride_s: float
    profile: str
    batch_size: int = 8


def _backbone(settings: ServiceSettings, profile: str) -> tuple[Backbone, int]:
    try:
        return profile_backbone(settings, profile)
    except ServiceError:
        raise
    except (VidstructError, OSError) as exc:  # a profile or checkpoint that no longer loads
        raise UnprocessableError(f"profile {profile!r} does not load: {' '.join(str(exc).split())[:300]}") from None


def _space_of(backbone: Backbone) -> EmbeddingSpace:
    return EmbeddingSpace(backbone.name, "recognition", backbone.sha256)


def resolve_model(
    session: Session, settings: ServiceSettings, *, profile: str | None = None, model: str | None = None
) -> ClipModel:
    """The space and backbone a clip query uses (see the module doc). 422: both or an unknown ``profile``, a
    profile without a recognizer or whose space holds no analysis, a collection without embeddings; 404: a
    ``model`` key no analysis of the collection has."""
    if profile is not None and model is not None:
        raise UnprocessableError("give profile or model, not both")
    if profile is not None:
        backbone, batch = _backbone(settings, profile)
        space = _space_of(backbone)
        if not current_embedded(session, space.key):
            raise UnprocessableError(f"no analysis of the collection has embeddings of profile {profile!r}'s model")
        return ClipModel(space, backbone, backbone.window_s, backbone.stride_s, profile, batch)
    embedded = {a.id: a for a in current_embedded(session, model)}
    if not embedded:
        if model is not None:
            raise NotFoundError(f"no embedding model {model[:100]!r} in the collection")
        raise UnprocessableError("no analysis of the collection has embeddings")
    newest = session.execute(
        select(Analysis.id, Analysis.profile_name, Analysis.models)
        .where(Analysis.id.in_(list(embedded)))
        .order_by(Analysis.completed_at.desc(), Analysis.id.desc())
        .limit(1)
    ).one()
    space = embedded[newest.id].space
    backbone, batch = _backbone(settings, newest.profile_name)
    if _space_of(backbone).key != space.key:
        raise UnprocessableError(
            f"profile {newest.profile_name!r}, which made embedding model {space.key}, now loads another checkpoint: "
            "name a profile instead"
        )
    records = (newest.models or {}).values()
    record = next((r for r in records if _same(r, space)), {})
    window = record.get("settings") or {}
    window_s = float(window.get("window_s", backbone.window_s))
    stride_s = float(window.get("stride_s", backbone.stride_s))
    return ClipModel(space, backbone, window_s, stride_s, newest.profile_name, batch)


def _same(record: Any, space: EmbeddingSpace) -> bool:
    return isinstance(record, dict) and (record.get("name"), record.get("checkpoint_sha256")) == (
        space.name, space.checkpoint_sha256,
    )  # fmt: skip


@dataclass(frozen=True)
class ClipWindows:
    """The clip's windows: ``starts_s`` / ``ends_s`` float64 ``[W]`` (seconds), ``features`` float32 ``[W, D]``
    (the backbone's pooled features, not normalised), ``duration_s`` the clip's length."""

    starts_s: np.ndarray
    ends_s: np.ndarray
    features: np.ndarray
    duration_s: float


def embed_clip(model: ClipModel, path: Path) -> ClipWindows:
    """Embed the windows of the video file ``path`` as the analysis pipeline does (see the module doc); 422 for a
    file that is not a readable video, longer than :data:`MAX_CLIP_S` or shorter than one window."""
    spec = model.backbone.recognizer.spec
    try:
        info = probe(path)
        if info.duration_s is not None and info.duration_s > MAX_CLIP_S + 1.0:  # before decoding anything
            raise UnprocessableError(f"the clip lasts about {info.duration_s:.3f} s: at most {MAX_CLIP_S:g} s")
        reader = VideoReader(path, short_side=decode_short_side(info.width, info.height, [int(spec.short_side)]))
        try:
            duration = reader.index.duration_s
            if duration > MAX_CLIP_S + _EPS_S:
                raise UnprocessableError(f"the clip lasts {duration:.3f} s: at most {MAX_CLIP_S:g} s")
            if duration < model.window_s - _EPS_S:
                raise UnprocessableError(
                    f"the clip lasts {duration:.3f} s, shorter than one window of its model ({model.window_s:g} s)"
                )
            plan = plan_windows(reader.index, model.window_s, model.stride_s, spec.num_frames, min_span_s=MIN_SPAN_S)
            tap = WindowTap(
                "clip", model.backbone.recognizer, plan, batch_size=model.batch_size, runner=model.backbone.runner
            )
            decode_once(reader, [tap])
        finally:
            reader.close()
    except VideoDecodeError as exc:
        raise UnprocessableError(f"not a readable video: {exc.__class__.__name__}") from None
    outputs = tap.outputs()
    starts = outputs.plan.starts_s
    return ClipWindows(starts, np.minimum(starts + model.window_s, duration), outputs.features, duration)


def search_clip(
    session: Session,
    settings: ServiceSettings,
    path: Path,
    query: SimilarQuery,
    *,
    profile: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The answer of ``POST /v1/search/similar/clip`` for the clip at ``path``: ``query`` holds the filters and
    ``max_results`` (its video and span are not used). One clip at a time per process (see the module doc)."""
    if not _ONE_AT_A_TIME.acquire(timeout=WAIT_S):
        raise BusyError(f"another clip is being embedded for more than {WAIT_S:g} s: try again later")
    try:
        chosen = resolve_model(session, settings, profile=profile, model=model)
        windows = embed_clip(chosen, path)
    finally:
        _ONE_AT_A_TIME.release()
    mean = normalize(windows.features).mean(axis=0)
    if not np.any(mean):
        raise UnprocessableError("the clip's embeddings average to zero: no direction to search")
    vector = normalize(mean[None])[0]
    scored, size, candidates = nearest_windows(session, settings.data_dir, chosen.space, vector, query)
    described = chosen.space.describe()
    return {
        "model": described,
        "query": {"clip": {"duration_s": round(windows.duration_s, 3), "windows": int(windows.starts_s.shape[0]),
                           "window_s": chosen.window_s, "stride_s": chosen.stride_s}, "profile": chosen.profile},
        "index": {"size": size, "candidates": candidates},
        "moments": group_moments(scored, described),
    }  # fmt: skip
