"""``/v1/reels``: queue a highlight reel of a video's results, read it, list them, download the reel and its
chapters (WebVTT).

``POST /v1/reels`` checks the request at once (422 for an unknown video, label or segment id, nothing matching,
a gone video file) and answers 202 ``{reel_id, job_id, status}``: a worker renders the reel as a job of kind
``reel`` (``GET /v1/jobs/{job_id}``; ``DELETE /v1/jobs/{job_id}`` cancels it; its webhook is called when it ends).
Segments come from the video's newest complete analysis, by ``label`` (with ``min_score``), by ``segment_ids`` (ids
of segment rows, as search and ``/v1/videos/{id}/segments`` give them) or by ``query`` (the segment filters of
``GET /v1/search``, within this video); ``max_s`` keeps the best-scoring ones that fit. Stream copy when every cut
falls on a keyframe, H.264 otherwise (``mode`` and ``reason`` say which and why). ``/file`` and ``/chapters``
answer 409 until the reel's job has succeeded. ``DELETE /v1/reels/{id}`` (write scope for the reels its key made,
admin for any) removes the reel's row and files and cancels its job if it has not finished (a worker rendering it
stores nothing); audit-logged.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, require, state
from vidstruct.service.db.models import ApiKey, AuditEntry, Job, Reel, utc_now
from vidstruct.service.errors import ConflictError, NotFoundError, ScopeError
from vidstruct.service.moderation.access import require_viewable
from vidstruct.service.reels.render import CHAPTERS_FILE, MAX_REEL_S, REEL_FILE, ReelRequest, SegmentQuery
from vidstruct.service.reels.submit import queue_reel
from vidstruct.service.search.params import parse_labels

router = APIRouter(prefix="/v1/reels", tags=["reels"])
_MAX_TIME_S = 1e7


class ReelQuery(BaseModel):
    """Segments of the video by the filters of ``GET /v1/search`` (seconds; probabilities in [0, 1])."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    label: list[str] | None = Field(None, max_length=50, description="one of these labels (any when absent)")
    min_score: float | None = Field(None, ge=0, le=1, description="lowest score (a probability)")
    max_score: float | None = Field(None, ge=0, le=1, description="highest score (a probability)")
    start_s: float | None = Field(None, ge=0, le=_MAX_TIME_S, description="segments ending after this time")
    end_s: float | None = Field(None, ge=0, le=_MAX_TIME_S, description="segments starting before this time")


class ReelBody(BaseModel):
    """Which segments (exactly one of ``label``, ``segment_ids``, ``query``), the lowest score (a probability),
    the longest reel (seconds), and the job's webhook, tag and idempotency token."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    video_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="a video with a finished analysis")
    label: str | None = Field(None, min_length=1, max_length=200, description="the segments' label")
    segment_ids: list[int] | None = Field(None, min_length=1, max_length=1000, description="segment row ids")
    query: ReelQuery | None = Field(None, description="the segments matching these search filters")
    min_score: float = Field(0.0, ge=0, le=1, description="lowest segment score (probability)")
    max_s: float = Field(MAX_REEL_S, gt=0, le=MAX_REEL_S, description="longest reel (seconds)")
    webhook_url: str | None = Field(None, max_length=2000, description="called when the reel's job ends")
    job_tag: str | None = Field(None, max_length=256)
    client_request_token: str | None = Field(None, description="idempotency token (1-64 letters, digits, _.:-)")

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http(s) URL")
        return value

    @field_validator("client_request_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
            raise ValueError("1 to 64 letters, digits or _ . : -")
        return value

    def reel_request(self) -> ReelRequest:
        query = None
        if self.query is not None:
            q = self.query
            labels = parse_labels(q.label, name="query.label")
            query = SegmentQuery(labels, q.min_score, q.max_score, q.start_s, q.end_s)
        return ReelRequest(self.video_id, self.label, self.segment_ids, self.min_score, self.max_s, query)


def reel_view(reel: Reel, job: Job | None) -> dict[str, Any]:
    """What the API shows of a reel: its job's status (reels made before reels were jobs: their own), the request
    and, once rendered, mode, duration (seconds), frames and parts in reel order with their segment row ids."""
    done = reel.folder is not None and (job is None or job.status == "SUCCEEDED")
    return {
        "reel_id": reel.id,
        "job_id": reel.job_id,
        "status": job.status if job is not None else reel.status,
        "error": job.error if job is not None else None,
        "video_id": reel.video_id,
        "analysis_id": reel.analysis_id,
        "request": reel.request,
        "mode": reel.mode,
        "reason": reel.reason,
        "duration_s": reel.duration_s,
        "frames": reel.frames,
        "parts": reel.parts,
        "file": f"/v1/reels/{reel.id}/file" if done else None,
        "chapters": f"/v1/reels/{reel.id}/chapters" if done else None,
        "created_at": reel.created_at.isoformat() if reel.created_at else None,
    }


def _jobs(session: Session, reels: list[Reel]) -> dict[str, Job]:
    ids = [r.job_id for r in reels if r.job_id]
    return {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(ids))).all()} if ids else {}


def _reel(session: Session, reel_id: str) -> tuple[Reel, Job | None]:
    reel = session.get(Reel, reel_id[:64])
    if reel is None:
        raise NotFoundError(f"no reel {reel_id[:64]!r}")
    return reel, session.get(Job, reel.job_id) if reel.job_id else None


@router.post("", status_code=202, summary="queue a highlight reel of a video's segments (a job of kind reel)")
def create_reel(
    body: ReelBody,
    request: Request,
    response: Response,
    session: Session = Depends(db_session),
    key: ApiKey = Depends(require("write")),
) -> dict[str, Any]:
    """202 ``{reel_id, job_id, status}``; the same ``client_request_token`` again: that reel (200)."""
    require_viewable(session, body.video_id, key)
    reel, job, created = queue_reel(
        session, state(request).settings, body.reel_request(), api_key_id=key.id, webhook_url=body.webhook_url,
        job_tag=body.job_tag, client_request_token=body.client_request_token,
    )  # fmt: skip
    if not created:
        response.status_code = 200
    return {"reel_id": reel.id, "job_id": job.id, "status": job.status}


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
    reels = list(session.scalars(query).all())
    jobs = _jobs(session, reels)
    return {"reels": [reel_view(r, jobs.get(r.job_id or "")) for r in reels]}


@router.get("/{reel_id}", summary="a reel: its status, request and, once rendered, mode, duration and parts")
def get_reel(
    reel_id: str, session: Session = Depends(db_session), _: ApiKey = Depends(require("read"))
) -> dict[str, Any]:
    return reel_view(*_reel(session, reel_id))


@router.delete("/{reel_id}", summary="delete a reel (its files and row; its job canceled if not finished)")
def delete_reel(
    request: Request, reel_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("write"))
) -> dict[str, Any]:
    """A write key deletes the reels it made, an admin key any reel (403 otherwise); 404 for an unknown reel."""
    reel, job = _reel(session, reel_id)
    if key.scope != "admin" and reel.api_key_id != key.id:
        raise ScopeError(f"reel {reel.id} was made with another key: deleting it needs the admin scope")
    canceled = job is not None and bool(
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status.in_(("QUEUED", "IN_PROGRESS")))
            .values(status="CANCELED", error="the reel was deleted", finished_at=utc_now(), lease_owner=None,
                    lease_expires_at=None)
        ).rowcount
    )  # fmt: skip
    session.delete(reel)
    detail = {"job_id": reel.job_id, "job_canceled": canceled}
    session.add(AuditEntry(actor=f"key:{key.id}", action="reel.delete", target=f"reel:{reel.id}", detail=detail))
    session.commit()
    shutil.rmtree(state(request).settings.data_dir / "reels" / reel.id, ignore_errors=True)  # every attempt's folder
    return {"reel_id": reel.id, "deleted": True, "job_canceled": canceled}


def _file(request: Request, session: Session, reel_id: str, key: ApiKey, name: str) -> Any:
    reel, job = _reel(session, reel_id)
    require_viewable(session, reel.video_id, key)
    view = reel_view(reel, job)
    if view["file"] is None:
        raise ConflictError(f"reel {reel.id} is not rendered ({view['status']})")
    path = state(request).settings.data_dir / str(reel.folder) / name
    if not path.is_file():
        raise NotFoundError(f"the file of reel {reel.id} is gone")
    return path


@router.get("/{reel_id}/file", summary="the reel (MP4; HTTP range requests answer 206); 409 until rendered")
def reel_file(
    request: Request, reel_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("read"))
) -> FileResponse:
    path = _file(request, session, reel_id, key, REEL_FILE)
    return FileResponse(path, media_type="video/mp4", filename=f"reel-{reel_id[:32]}.mp4")


@router.get(
    "/{reel_id}/chapters", summary="the reel's chapters (WebVTT, a cue per part named by its label); 409 until rendered"
)
def reel_chapters(
    request: Request, reel_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("read"))
) -> FileResponse:
    path = _file(request, session, reel_id, key, CHAPTERS_FILE)
    return FileResponse(path, media_type="text/vtt", filename=f"reel-{reel_id[:32]}.chapters.vtt")
