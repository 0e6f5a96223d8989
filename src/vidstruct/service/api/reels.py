"""``/v1/reels``: render a highlight reel of a video's results, read it, list them, download the reel and its
chapters (WebVTT).

``POST /v1/reels`` cuts the reel while the request waits (at most
:data:`~vidstruct.service.reels.render.MAX_SYNC_REEL_S` seconds of video) and answers 201 with the finished
reel: reels are not queued jobs yet. Segments come from the video's newest complete analysis, by ``label``
(with ``min_score``) or by ``segment_ids`` (ids of segment rows, as search and ``/v1/videos/{id}/segments``
give them); ``max_s`` keeps the best-scoring ones that fit. Stream copy when every cut falls on a keyframe,
H.264 otherwise (``mode`` and ``reason`` say which and why).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, require, state
from vidstruct.service.db.models import ApiKey, Reel
from vidstruct.service.errors import NotFoundError
from vidstruct.service.moderation.access import require_viewable
from vidstruct.service.reels.render import MAX_SYNC_REEL_S, REEL_FILE, ReelRequest, render_reel

router = APIRouter(prefix="/v1/reels", tags=["reels"])
_CHAPTERS_FILE = "reel.chapters.vtt"


class ReelBody(BaseModel):
    """Which segments (``label`` or ``segment_ids``), the lowest score (a probability) and the longest reel (s)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    video_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="a video with a finished analysis")
    label: str | None = Field(None, min_length=1, max_length=200, description="the segments' label")
    segment_ids: list[int] | None = Field(None, min_length=1, max_length=1000, description="segment row ids")
    min_score: float = Field(0.0, ge=0, le=1, description="lowest segment score (probability)")
    max_s: float = Field(MAX_SYNC_REEL_S, gt=0, le=MAX_SYNC_REEL_S, description="longest reel (seconds)")

    @model_validator(mode="after")
    def _one_selector(self) -> ReelBody:
        if (self.label is None) == (self.segment_ids is None):
            raise ValueError("give exactly one of label and segment_ids")
        return self


def reel_view(reel: Reel) -> dict[str, Any]:
    """What the API shows of a reel (times in seconds, parts in reel order with their segment row ids)."""
    return {
        "reel_id": reel.id,
        "status": reel.status,
        "video_id": reel.video_id,
        "analysis_id": reel.analysis_id,
        "request": reel.request,
        "mode": reel.mode,
        "reason": reel.reason,
        "duration_s": reel.duration_s,
        "frames": reel.frames,
        "parts": reel.parts,
        "file": f"/v1/reels/{reel.id}/file",
        "chapters": f"/v1/reels/{reel.id}/chapters",
        "created_at": reel.created_at.isoformat() if reel.created_at else None,
    }


def _reel(session: Session, reel_id: str) -> Reel:
    reel = session.get(Reel, reel_id[:64])
    if reel is None:
        raise NotFoundError(f"no reel {reel_id[:64]!r}")
    return reel


@router.post("", status_code=201, summary="render a highlight reel of a video's segments (waits for it)")
def create_reel(
    body: ReelBody,
    request: Request,
    session: Session = Depends(db_session),
    key: ApiKey = Depends(require("write")),
) -> dict[str, Any]:
    require_viewable(session, body.video_id, key)
    wanted = ReelRequest(body.video_id, body.label, body.segment_ids, body.min_score, body.max_s)
    reel = render_reel(session, state(request).settings, wanted, api_key_id=key.id)
    session.commit()
    return reel_view(reel)


@router.get("", summary="reels, newest first (of one video with video_id)")
def list_reels(
    video_id: str | None = Query(None, pattern=r"^[0-9a-f]{32}$"),
    limit: int = Query(50, ge=1, le=200),
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict[str, Any]:
    query = select(Reel).order_by(Reel.created_at.desc(), Reel.id.desc()).limit(limit)
    if video_id is not None:
        query = query.where(Reel.video_id == video_id)
    return {"reels": [reel_view(r) for r in session.scalars(query).all()]}


@router.get("/{reel_id}", summary="a reel: its request, mode, duration and parts")
def get_reel(
    reel_id: str, session: Session = Depends(db_session), _: ApiKey = Depends(require("read"))
) -> dict[str, Any]:
    return reel_view(_reel(session, reel_id))


def _file(request: Request, session: Session, reel_id: str, key: ApiKey, name: str) -> Any:
    reel = _reel(session, reel_id)
    require_viewable(session, reel.video_id, key)
    path = state(request).settings.data_dir / reel.folder / name
    if not path.is_file():
        raise NotFoundError(f"the file of reel {reel.id} is gone")
    return path


@router.get("/{reel_id}/file", summary="the reel (MP4; HTTP range requests answer 206)")
def reel_file(
    request: Request, reel_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("read"))
) -> FileResponse:
    path = _file(request, session, reel_id, key, REEL_FILE)
    return FileResponse(path, media_type="video/mp4", filename=f"reel-{reel_id[:32]}.mp4")


@router.get("/{reel_id}/chapters", summary="the reel's chapters (WebVTT, one cue per part named by its label)")
def reel_chapters(
    request: Request, reel_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("read"))
) -> FileResponse:
    path = _file(request, session, reel_id, key, _CHAPTERS_FILE)
    return FileResponse(path, media_type="text/vtt", filename=f"reel-{reel_id[:32]}.chapters.vtt")
