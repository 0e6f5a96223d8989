"""``/v1/jobs``: submit a video (upload or allowed server-side path) for analysis, read, list and cancel jobs."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vidstruct.service.api.deps import ServiceState, db_session, require, state
from vidstruct.service.api.pagination import decode_token, page_token
from vidstruct.service.api.uploads import JobForm, Upload, keep_upload, read_job_form
from vidstruct.service.db.models import JOB_KINDS, JOB_STATUSES, ApiKey, Job, Video
from vidstruct.service.errors import NotFoundError, ServiceError, UnprocessableError
from vidstruct.service.jobs.intake import find_video, new_video, probe_or_refuse, resolve_allowed, sha256_of
from vidstruct.service.jobs.queue import cancel_job, submit_job
from vidstruct.service.jobs.webhook_guard import check_webhook_url
from vidstruct.service.settings import DEFAULT_FEATURES, FEATURES

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_FORM_FIELDS = {"file", "path", "features", "profile", "client_request_token", "job_tag", "min_confidence",
                "webhook_url"}  # fmt: skip
_FORM_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the video (or give path)"},
                        "path": {"type": "string", "description": "a server-side file under an --allow-root folder"},
                        "features": {
                            "type": "string",
                            "description": f"comma list of {', '.join(FEATURES)} (default "
                            f"{','.join(DEFAULT_FEATURES)}): the results analysed and indexed for queries (only "
                            "the models they need run; with a moderation policy, also what its rules read)",
                        },
                        "profile": {"type": "string", "description": "analysis profile name"},
                        "client_request_token": {"type": "string", "description": "idempotency token (1-64 chars)"},
                        "job_tag": {"type": "string"},
                        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "webhook_url": {
                            "type": "string",
                            "format": "uri",
                            "description": "POSTed when the job ends (public hosts only unless the service allows "
                            "private ones)",
                        },
                    },
                }
            }
        },
    }
}


def job_view(job: Job) -> dict[str, Any]:
    """What the API shows of a job."""
    return {
        "job_id": job.id,
        "kind": job.kind,  # analysis | reel (a reel job renders reel_id; it has no features or profile)
        "reel_id": job.reel_id,
        "status": job.status,
        "video_id": job.video_id,
        "progress": job.progress or {},
        "error": job.error,
        "features": job.features,
        "profile": job.profile,
        "job_tag": job.job_tag,
        "min_confidence": job.min_confidence,
        "client_request_token": job.client_request_token,
        "attempts": job.attempts,
        "analysis_id": job.analysis_id,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _job_fields(form: JobForm, service: ServiceState) -> dict[str, Any]:
    """The job's columns from the form's text fields (422 for values out of range)."""
    fields = form.fields
    unknown = set(fields) - _FORM_FIELDS
    if unknown:
        raise UnprocessableError(f"unknown form field(s): {', '.join(sorted(unknown))}")
    features = [f.strip() for f in fields.get("features", "").split(",") if f.strip()] or list(DEFAULT_FEATURES)
    bad = [f for f in features if f not in FEATURES]
    if bad:
        raise UnprocessableError(f"unknown feature(s) {', '.join(bad)}: expected some of {', '.join(FEATURES)}")
    profile = fields.get("profile") or service.settings.default_profile
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", profile) or service.settings.profile_path(profile) is None:
        raise UnprocessableError(f"no analysis profile named {profile[:100]!r}")
    token = fields.get("client_request_token") or None
    if token is not None and not _TOKEN.match(token):
        raise UnprocessableError("client_request_token: 1 to 64 letters, digits or _ . : -")
    try:
        min_confidence = float(fields.get("min_confidence") or 0.0)
    except ValueError:
        raise UnprocessableError("min_confidence: expected a number in [0, 1]") from None
    if not 0.0 <= min_confidence <= 1.0:
        raise UnprocessableError("min_confidence: expected a number in [0, 1] (a probability)")
    webhook = fields.get("webhook_url") or None
    if webhook is not None:
        check_webhook_url(webhook, service.settings)  # 422: not http(s), credentials, a host that is not public
    tag = fields.get("job_tag") or None
    if tag is not None and len(tag) > 256:
        raise UnprocessableError("job_tag: at most 256 characters")
    return {"features": list(dict.fromkeys(features)), "profile": profile, "client_request_token": token,
            "min_confidence": min_confidence, "webhook_url": webhook, "job_tag": tag}  # fmt: skip


def _register_upload(service: ServiceState, session: Session, upload: Upload) -> Video:
    """Probe the uploaded file (422 and nothing kept when it is not a video) and return its video row (the
    existing one when the same bytes were uploaded before)."""
    info = probe_or_refuse(upload.path)
    existing = find_video(session, upload.sha256)
    if existing is not None:
        upload.discard()
        return existing
    target = keep_upload(upload, service.settings.videos_dir)
    relative = str(target.relative_to(service.settings.data_dir))
    return _add_video(session, new_video(upload.sha256, relative, stored=True, size=upload.size, info=info,
                                         filename=upload.filename))  # fmt: skip


def _register_path(service: ServiceState, session: Session, raw: str) -> Video:
    path = resolve_allowed(raw, service.settings.allow_roots)
    with open(path, "rb") as fh:
        sha = sha256_of(fh)
    existing = find_video(session, sha)
    if existing is not None:
        return existing
    info = probe_or_refuse(path)
    return _add_video(session, new_video(sha, str(path), stored=False, size=path.stat().st_size, info=info,
                                         filename=path.name))  # fmt: skip


def _add_video(session: Session, video: Video) -> Video:
    session.add(video)
    try:
        session.commit()
    except IntegrityError:  # the same bytes registered at the same moment by another request
        session.rollback()
        existing = find_video(session, video.sha256)
        if existing is None:
            raise
        return existing
    return video


def _submit(service: ServiceState, form: JobForm, key_id: int) -> tuple[Job, bool]:
    fields = _job_fields(form, service)
    has_path = bool(form.fields.get("path"))
    if (form.upload is None) == (not has_path):
        raise ServiceError("give exactly one of 'file' (an upload) or 'path' (a server-side file)")
    with service.factory() as session:
        token = fields["client_request_token"]
        if token is not None:
            existing = session.scalar(select(Job).where(Job.client_request_token == token))
            if existing is not None:
                return existing, False
        if form.upload is not None:
            video = _register_upload(service, session, form.upload)
        else:
            video = _register_path(service, session, form.fields["path"])
        return submit_job(session, video_id=video.id, api_key_id=key_id, **fields)


@router.post("", status_code=202, openapi_extra=_FORM_DOC, summary="submit a video for analysis")
async def submit(request: Request, response: Response, key: ApiKey = Depends(require("write"))) -> dict[str, Any]:
    """Analyze an uploaded video (``file``) or a server-side one (``path``); the same ``client_request_token``
    returns the same job (200 instead of 202)."""
    service = state(request)
    settings = service.settings
    form = await read_job_form(
        request, settings.uploads_dir, max_upload=settings.max_upload_bytes, max_field=settings.max_form_bytes
    )
    try:
        job, created = await run_in_threadpool(_submit, service, form, key.id)
    finally:
        if form.upload is not None and form.upload.path.parent == settings.uploads_dir:
            form.upload.discard()  # not kept: refused, or the same bytes are stored already
    if not created:
        response.status_code = 200
    return {"job_id": job.id, "status": job.status}


@router.get("/{job_id}", summary="a job's status, progress and error")
def get_job(job_id: str, session: Session = Depends(db_session), _: ApiKey = Depends(require("read"))) -> dict:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id[:64]!r}")
    return job_view(job)


@router.get("", summary="jobs, newest first, with filters and pagination")
def list_jobs(
    status: str | None = Query(None, description=" | ".join(JOB_STATUSES)),
    kind: str | None = Query(None, description=" | ".join(JOB_KINDS)),
    job_tag: str | None = None,
    video_id: str | None = None,
    max_results: int = Query(100, ge=1, le=1000),
    next_token: str | None = None,
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict[str, Any]:
    if status is not None and status not in JOB_STATUSES:
        raise UnprocessableError(f"status: expected one of {', '.join(JOB_STATUSES)}")
    offset = decode_token(next_token)
    query = select(Job).order_by(Job.created_at.desc(), Job.id)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        if kind not in JOB_KINDS:
            raise UnprocessableError(f"kind: expected one of {', '.join(JOB_KINDS)}")
        query = query.where(Job.kind == kind)
    if job_tag is not None:
        query = query.where(Job.job_tag == job_tag)
    if video_id is not None:
        query = query.where(Job.video_id == video_id)
    rows = session.scalars(query.offset(offset).limit(max_results + 1)).all()
    jobs = [job_view(j) for j in rows[:max_results]]
    return {"jobs": jobs, "next_token": page_token(offset, len(jobs), max_results, len(rows) > max_results)}


@router.delete("/{job_id}", summary="cancel a job that has not finished")
def cancel(job_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("write"))) -> dict:
    return job_view(cancel_job(session, job_id, actor=f"key:{key.id}"))
