"""Rendering a reel of a stored video, synchronously, into ``DATA/reels/<reel id>/`` and a ``reels`` row.

Segments are chosen from the ``segments`` rows of the video's newest complete analysis (what search answers;
``segment_ids`` are those rows' ids), by :func:`~vidstruct.pipeline.reels.choose_segments`; the reel is cut by
:func:`~vidstruct.pipeline.reels.cut_reel`. The request waits for the reel, so its length is capped at
:data:`MAX_SYNC_REEL_S` seconds (``max_s`` defaults to it): reels are not queued jobs yet.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.io.errors import VideoDecodeError
from vidstruct.pipeline.reels import ReelError, choose_segments, cut_reel
from vidstruct.service.db.models import Reel, Segment, new_id
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.reels.source import reel_source
from vidstruct.service.settings import ServiceSettings

__all__ = ["MAX_SYNC_REEL_S", "REEL_FILE", "ReelRequest", "render_reel"]

#: longest reel (seconds) one request renders while it waits
MAX_SYNC_REEL_S = 120.0
#: the reel's file name inside its folder (chapters: ``reel.chapters.vtt``)
REEL_FILE = "reel.mp4"


@dataclass(frozen=True)
class ReelRequest:
    """What to cut: ``label`` or ``segment_ids`` (rows of ``segments``), ``min_score`` (probability), ``max_s``."""

    video_id: str
    label: str | None = None
    segment_ids: Sequence[int] | None = None
    min_score: float = 0.0
    max_s: float = MAX_SYNC_REEL_S

    def to_json(self) -> dict[str, Any]:
        ids = list(self.segment_ids) if self.segment_ids is not None else None
        return {"label": self.label, "segment_ids": ids, "min_score": self.min_score, "max_s": self.max_s}


def render_reel(
    session: Session, settings: ServiceSettings, request: ReelRequest, *, api_key_id: int | None = None
) -> Reel:
    """Cut the reel ``request`` asks for and add its row to ``session`` (the caller commits; on an error nothing
    is kept). A request the data cannot satisfy (unknown label or id, nothing matches, a gone or unreadable
    video) raises :class:`UnprocessableError`; an unknown video :class:`ReelError` turned into one too."""
    if not 0 < request.max_s <= MAX_SYNC_REEL_S:
        raise UnprocessableError(f"max_s: expected seconds in (0, {MAX_SYNC_REEL_S:g}]")
    try:
        source = reel_source(session, settings.data_dir, request.video_id)
    except ReelError as exc:
        raise UnprocessableError(str(exc)) from None
    rows = session.scalars(select(Segment).where(Segment.analysis_id == source.analysis_id).order_by(Segment.id)).all()
    segments = [{"label": r.label, "start_s": r.start_s, "end_s": r.end_s, "score": r.score} for r in rows]
    positions = None
    if request.segment_ids is not None:
        by_id = {r.id: k for k, r in enumerate(rows)}
        missing = [i for i in request.segment_ids if i not in by_id]
        if missing:
            raise UnprocessableError(f"segment {missing[0]} is not a segment of video {request.video_id}'s results")
        positions = [by_id[i] for i in request.segment_ids]
    reel_id = new_id()
    folder = settings.data_dir / "reels" / reel_id
    try:
        picks = choose_segments(
            segments,
            label=request.label if positions is None else None,
            segment_ids=positions,
            min_score=request.min_score,
            max_s=request.max_s,
        )
        reel = cut_reel(picks, source.video, folder / REEL_FILE)
    except (ReelError, VideoDecodeError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        message = str(exc).replace(str(source.video), f"video {request.video_id}")  # no server path in answers
        raise UnprocessableError(message) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    parts = []
    for part in reel.plan.parts:
        view = part.to_json()
        view["segments"] = [rows[k].id for k in part.segments]
        parts.append(view)
    row = Reel(
        id=reel_id,
        video_id=request.video_id,
        analysis_id=source.analysis_id,
        status="SUCCEEDED",
        request=request.to_json(),
        mode=reel.plan.mode,
        reason=reel.plan.reason,
        duration_s=round(reel.plan.duration_s, 3),
        frames=reel.plan.num_frames,
        parts=parts,
        folder=str(folder.relative_to(settings.data_dir)),
        api_key_id=api_key_id,
    )
    session.add(row)
    return row
