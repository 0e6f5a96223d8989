"""Queueing a reel: checked at once (the video, its analysis and file, the chosen segments: 422 for what cannot be
rendered), then one ``reels`` row (status ``QUEUED``) and one ``jobs`` row of kind ``reel`` added in one
transaction; a worker renders it (:mod:`.job`). A ``client_request_token`` already used returns its reel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vidstruct.pipeline.reels import ReelError
from vidstruct.service.db.models import Job, Reel, new_id
from vidstruct.service.errors import ConflictError, UnprocessableError
from vidstruct.service.jobs.webhook_guard import check_webhook_url
from vidstruct.service.reels.render import ReelRequest, choose
from vidstruct.service.reels.source import reel_source
from vidstruct.service.settings import ServiceSettings

__all__ = ["queue_reel"]


def _existing(session: Session, token: str) -> tuple[Reel, Job] | None:
    job = session.scalar(select(Job).where(Job.client_request_token == token))
    if job is None:
        return None
    reel = session.get(Reel, job.reel_id) if job.kind == "reel" and job.reel_id else None
    if reel is None:
        raise ConflictError("client_request_token: already used by another job")
    return reel, job


def queue_reel(
    session: Session,
    settings: ServiceSettings,
    request: ReelRequest,
    *,
    api_key_id: int | None = None,
    **job_fields: Any,
) -> tuple[Reel, Job, bool]:
    """Check ``request`` and queue its reel (commits); ``job_fields``: ``webhook_url``, ``job_tag``,
    ``client_request_token``. Returns ``(reel, job, created)``: the reel and job a token made earlier, not created,
    when the token was used before. A ``webhook_url`` must pass the SSRF guard (422 otherwise)."""
    if job_fields.get("webhook_url"):
        check_webhook_url(job_fields["webhook_url"], settings)
    token = job_fields.get("client_request_token")
    if token is not None and (found := _existing(session, token)) is not None:
        return (*found, False)
    try:
        source = reel_source(session, settings.data_dir, request.video_id)
    except ReelError as exc:
        raise UnprocessableError(str(exc)) from None
    if not source.video.is_file():  # no server path in the answer
        raise UnprocessableError(f"the file of video {request.video_id} was not found")
    choose(session, source.analysis_id, request)  # 422 now for what the worker could not render
    reel_id, job_id = new_id(), new_id()
    reel = Reel(id=reel_id, video_id=request.video_id, analysis_id=source.analysis_id, status="QUEUED",
                request=request.to_json(), job_id=job_id, api_key_id=api_key_id)  # fmt: skip
    job = Job(id=job_id, kind="reel", reel_id=reel_id, video_id=request.video_id, features=[], profile="",
              status="QUEUED", attempts=0, progress={}, min_confidence=request.min_score, api_key_id=api_key_id,
              **job_fields)  # fmt: skip
    session.add_all([reel, job])
    try:
        session.commit()
    except IntegrityError:  # the same token, at the same moment, from another request
        session.rollback()
        found = _existing(session, token) if token is not None else None
        if found is None:
            raise
        return (*found, False)
    return reel, job, True
