"""What a reel of a stored video is made of: the request, the segments it chooses, and cutting them into a folder.

Segments are chosen from the ``segments`` rows of one analysis of the video (the newest complete one when the reel
was asked for; what search answers, so ``segment_ids`` are those rows' ids), by exactly one selector:

- ``label`` (with ``min_score``): the segments of that label;
- ``segment_ids``: those rows;
- ``query``: the rows matching the filters of ``GET /v1/search`` that make sense within one video (``label`` list,
  ``min_score`` / ``max_score``, ``start_s`` / ``end_s`` overlap), answered by the database with the search's own
  conditions (:func:`vidstruct.service.search.clips.segment_conditions`).

Then :func:`~vidstruct.pipeline.reels.choose_segments` keeps the best-scoring ones within ``max_s`` seconds (at
most :data:`MAX_REEL_S`) and :func:`~vidstruct.pipeline.reels.cut_reel` cuts them (the MP4 and its chapters are
each written atomically). A reel comes from one video: parts of several videos could not share one stream copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.pipeline.reels import Reel as CutReel
from vidstruct.pipeline.reels import ReelError, ReelPick, choose_segments, cut_reel
from vidstruct.pipeline.reels.cut import StopFn
from vidstruct.service.db.models import Segment
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.search.clips import segment_conditions
from vidstruct.service.search.params import ClipQuery

__all__ = ["CHAPTERS_FILE", "MAX_REEL_S", "REEL_FILE", "ReelRequest", "SegmentQuery", "choose", "cut", "part_views"]

#: longest reel (seconds of video) one request may ask for; reels are rendered by workers, not while a request waits
MAX_REEL_S = 3600.0
#: the reel's file name inside its folder, and its chapters beside it
REEL_FILE = "reel.mp4"
CHAPTERS_FILE = "reel.chapters.vtt"


@dataclass(frozen=True)
class SegmentQuery:
    """Segments of one analysis by ``GET /v1/search``'s segment filters: one of ``labels`` (any when empty), a
    score in [``min_score``, ``max_score``] (probabilities), overlapping [``start_s``, ``end_s``] (seconds)."""

    labels: tuple[str, ...] = ()
    min_score: float | None = None
    max_score: float | None = None
    start_s: float | None = None
    end_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"label": list(self.labels), "min_score": self.min_score, "max_score": self.max_score,
                "start_s": self.start_s, "end_s": self.end_s}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentQuery:
        return cls(tuple(data.get("label") or ()), data.get("min_score"), data.get("max_score"), data.get("start_s"),
                   data.get("end_s"))  # fmt: skip

    def clip_query(self) -> ClipQuery:
        """The search query these filters make (422 for an empty score or time range)."""
        return ClipQuery(labels=self.labels, min_score=self.min_score, max_score=self.max_score,
                         start_s=self.start_s, end_s=self.end_s)  # fmt: skip


@dataclass(frozen=True)
class ReelRequest:
    """What to cut of ``video_id``: one of ``label``, ``segment_ids`` (rows of ``segments``) and ``query``;
    ``min_score`` (probability), ``max_s`` (seconds)."""

    video_id: str
    label: str | None = None
    segment_ids: Sequence[int] | None = None
    min_score: float = 0.0
    max_s: float = MAX_REEL_S
    query: SegmentQuery | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.label, self.segment_ids, self.query)) != 1:
            raise UnprocessableError("give exactly one of label, segment_ids and query")
        if not 0 < self.max_s <= MAX_REEL_S:
            raise UnprocessableError(f"max_s: expected seconds in (0, {MAX_REEL_S:g}]")

    def to_json(self) -> dict[str, Any]:
        """The request as stored in ``reels.request`` (and shown by the API)."""
        ids = list(self.segment_ids) if self.segment_ids is not None else None
        query = self.query.to_json() if self.query is not None else None
        return {"label": self.label, "segment_ids": ids, "query": query, "min_score": self.min_score,
                "max_s": self.max_s}  # fmt: skip

    @classmethod
    def from_json(cls, video_id: str, data: dict[str, Any]) -> ReelRequest:
        query = SegmentQuery.from_json(data["query"]) if data.get("query") else None
        max_s = float(data.get("max_s") or MAX_REEL_S)
        return cls(video_id, data.get("label"), data.get("segment_ids"), float(data.get("min_score") or 0.0), max_s,
                   query)  # fmt: skip


def choose(session: Session, analysis_id: str, request: ReelRequest) -> tuple[list[Segment], list[ReelPick]]:
    """The analysis's segment rows (by id) and the parts ``request`` chooses among them; 422 when the request
    names an unknown label or id, or nothing matches."""
    rows = list(session.scalars(select(Segment).where(Segment.analysis_id == analysis_id).order_by(Segment.id)).all())
    segments = [{"label": r.label, "start_s": r.start_s, "end_s": r.end_s, "score": r.score} for r in rows]
    by_id = {r.id: k for k, r in enumerate(rows)}
    ids = request.segment_ids
    if request.query is not None:
        conditions = segment_conditions(request.query.clip_query())
        ids = session.scalars(select(Segment.id).where(Segment.analysis_id == analysis_id, *conditions)).all()
        if not ids:
            raise UnprocessableError(f"no segment of video {request.video_id} matches the query")
    positions = None
    if ids is not None:
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise UnprocessableError(f"segment {missing[0]} is not a segment of video {request.video_id}'s results")
        positions = [by_id[i] for i in ids]
    try:
        picks = choose_segments(
            segments,
            label=request.label if positions is None else None,
            segment_ids=positions,
            min_score=request.min_score,
            max_s=request.max_s,
        )
    except ReelError as exc:
        raise UnprocessableError(str(exc)) from None
    return rows, picks


def cut(picks: Sequence[ReelPick], source: Path, folder: Path, should_stop: StopFn | None = None) -> CutReel:
    """Cut ``picks`` of the video file ``source`` into ``folder/reel.mp4`` and its chapters (see the module doc);
    raises :class:`ReelError` / :class:`~vidstruct.io.errors.VideoDecodeError` for a gone or unreadable video, and
    :class:`~vidstruct.pipeline.reels.ReelCanceled` when ``should_stop(done_frames, total_frames)`` answers True."""
    return cut_reel(picks, source, folder / REEL_FILE, should_stop)


def part_views(reel: CutReel, rows: Sequence[Segment]) -> list[dict[str, Any]]:
    """The reel's parts as stored and shown: reel order, times in seconds, the segment row ids of each part."""
    parts = []
    for part in reel.plan.parts:
        view = part.to_json()
        view["segments"] = [rows[k].id for k in part.segments]
        parts.append(view)
    return parts
