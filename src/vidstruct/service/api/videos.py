"""``/v1/videos/{id}``: a video's metadata and results (from its newest complete analysis), exports,
thumbnails, the media itself with range requests, and deleting it all. A video blocked by moderation says so
(``moderation``) and withholds its media and thumbnails from keys that cannot review
(:mod:`vidstruct.service.moderation.access`).

Result lists follow the shapes Rekognition Video users know (``GetLabelDetection``): a page of items,
``next_token`` for the next page, ``sort`` by timestamp or name, ``aggregate`` by segments or timestamps, and the
model versions that made them; unlike Rekognition, times are seconds and scores are probabilities in [0, 1].
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, require, state
from vidstruct.service.api.pagination import decode_token, page_token
from vidstruct.service.db.models import (
    Actor,
    Analysis,
    ApiKey,
    AuditEntry,
    Job,
    Reel,
    Segment,
    Shot,
    Thumbnail,
    Video,
    Window,
    utc_now,
)
from vidstruct.service.db.store import current_analysis
from vidstruct.service.errors import NotFoundError, UnprocessableError
from vidstruct.service.jobs.intake import video_file
from vidstruct.service.moderation.access import require_viewable
from vidstruct.service.moderation.checker import video_moderation
from vidstruct.structure import STRUCTURE_FILE, Structure, StructureError
from vidstruct.structure.exports import FORMATS, export_structure

router = APIRouter(prefix="/v1/videos", tags=["videos"])
EXPORT_FORMATS = ("webvtt", "csv", "activitynet", "ava", "otio", "labelstudio")
_MEDIA_TYPES = {"webvtt": "text/vtt", "csv": "text/csv", "activitynet": "application/json", "ava": "text/csv",
                "otio": "application/json", "labelstudio": "application/json"}  # fmt: skip
_EXTENSIONS = {"webvtt": "vtt", "csv": "csv", "activitynet": "json", "ava": "csv", "otio": "otio",
               "labelstudio": "json"}  # fmt: skip
_MEDIA_TYPES_BY_SUFFIX = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
                          ".webm": "video/webm", ".mkv": "video/x-matroska"}  # fmt: skip


def _video(session: Session, video_id: str) -> Video:
    video = session.get(Video, video_id)
    if video is None:
        raise NotFoundError(f"no video {video_id[:64]!r}")
    return video


def _analysis(session: Session, video_id: str) -> Analysis:
    _video(session, video_id)
    analysis = current_analysis(session, video_id)
    if analysis is None:
        raise NotFoundError(f"video {video_id} has no finished analysis yet")
    return analysis


def _analysis_view(analysis: Analysis) -> dict[str, Any]:
    return {
        "analysis_id": analysis.id,
        "job_id": analysis.job_id,
        "profile": {"name": analysis.profile_name, "sha256": analysis.profile_sha256},
        "models": analysis.models,
        "completed_at": analysis.completed_at.isoformat(),
    }


@router.get("/{video_id}", summary="a video's metadata and the analysis its results come from")
def get_video(video_id: str, session: Session = Depends(db_session), _: ApiKey = Depends(require("read"))) -> dict:
    video = _video(session, video_id)
    analysis = current_analysis(session, video_id)
    count = session.scalar(select(func.count()).select_from(Analysis).where(Analysis.video_id == video_id))
    return {
        "video_id": video.id,
        "sha256": video.sha256,
        "size_bytes": video.size_bytes,
        "duration_s": video.duration_s,
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
        "codec": video.codec,
        "tags": video.tags,
        "created_at": video.created_at.isoformat(),
        "analysis": _analysis_view(analysis) if analysis is not None else None,
        "analyses": count,
        "moderation": video_moderation(session, video_id),
    }


def _page(items: list[dict], offset: int, limit: int, has_more: bool) -> dict[str, Any]:
    return {"next_token": page_token(offset, len(items), limit, has_more)}


@router.get("/{video_id}/segments", summary="labels over time (segments or per-window timestamps)")
def segments(
    video_id: str,
    label: str | None = Query(None, max_length=200),
    min_confidence: float = Query(0.0, ge=0.0, le=1.0, description="lowest score (a probability)"),
    sort: str = Query("timestamp", pattern="^(timestamp|name)$"),
    aggregate: str = Query("segments", pattern="^(segments|timestamps)$"),
    max_results: int = Query(1000, ge=1, le=1000),
    next_token: str | None = None,
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict[str, Any]:
    """``aggregate=segments``: the analysis's segments (one per labelled span); ``aggregate=timestamps``: each
    recognition window's top labels at the window's middle (``timestamp_s``)."""
    analysis = _analysis(session, video_id)
    offset = decode_token(next_token)
    if aggregate == "segments":
        query = select(Segment).where(Segment.analysis_id == analysis.id, Segment.score >= min_confidence)
        if label is not None:
            query = query.where(Segment.label == label)
        order = (Segment.start_s, Segment.label) if sort == "timestamp" else (Segment.label, Segment.start_s)
        rows = session.scalars(query.order_by(*order, Segment.id).offset(offset).limit(max_results + 1)).all()
        items = [
            {"segment_id": s.id, "label": s.label, "score": s.score, "start_s": s.start_s, "end_s": s.end_s,
             "duration_s": round(s.end_s - s.start_s, 3), "timestamp_s": s.start_s, "source": s.source,
             "model": s.model, "shot": s.shot, "track": s.track,
             "thumbnail": Path(s.thumbnail).name if s.thumbnail else None}
            for s in rows[:max_results]
        ]  # fmt: skip
        has_more = len(rows) > max_results
    else:
        windows = session.scalars(
            select(Window).where(Window.analysis_id == analysis.id).order_by(Window.start_s, Window.id)
        ).all()
        flat = [
            {"timestamp_s": round((w.start_s + w.end_s) / 2, 3), "label": t["label"], "score": t["prob"],
             "start_s": w.start_s, "end_s": w.end_s, "model": w.model}
            for w in windows
            for t in w.top
            if t["prob"] >= min_confidence and (label is None or t["label"] == label)
        ]  # fmt: skip
        key = (
            (lambda i: (i["timestamp_s"], i["label"]))
            if sort == "timestamp"
            else (lambda i: (i["label"], i["timestamp_s"]))
        )
        flat.sort(key=key)
        items, has_more = flat[offset : offset + max_results], len(flat) > offset + max_results
    return {
        "video_id": video_id,
        "aggregate": aggregate,
        "sort": sort,
        "segments": items,
        "models": analysis.models,
        "analysis_id": analysis.id,
        **_page(items, offset, max_results, has_more),
    }


@router.get("/{video_id}/shots", summary="the video's shots")
def shots(video_id: str, session: Session = Depends(db_session), _: ApiKey = Depends(require("read"))) -> dict:
    analysis = _analysis(session, video_id)
    rows = session.scalars(select(Shot).where(Shot.analysis_id == analysis.id).order_by(Shot.index)).all()
    return {
        "video_id": video_id,
        "shots": [
            {
                "index": s.index,
                "start_s": s.start_s,
                "end_s": s.end_s,
                "confidence": s.confidence,
                "model": s.model,
                "thumbnail": Path(s.thumbnail).name if s.thumbnail else None,
            }
            for s in rows
        ],  # fmt: skip
        "models": analysis.models,
        "analysis_id": analysis.id,
    }


@router.get("/{video_id}/actors", summary="actor boxes over time ([x1, y1, x2, y2] in [0, 1])")
def actors(
    video_id: str,
    track_id: int | None = None,
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict:
    analysis = _analysis(session, video_id)
    query = select(Actor).where(Actor.analysis_id == analysis.id)
    if track_id is not None:
        query = query.where(Actor.track_id == track_id)
    rows = session.scalars(query.order_by(Actor.time_s, Actor.track_id, Actor.id)).all()
    return {
        "video_id": video_id,
        "actors": [
            {
                "track_id": a.track_id,
                "time_s": a.time_s,
                "box": a.box,
                "score": a.score,
                "actions": a.actions,
                "model": a.model,
            }
            for a in rows
        ],  # fmt: skip
        "models": analysis.models,
        "analysis_id": analysis.id,
    }


def _served_document(analysis: Analysis, video_id: str) -> dict[str, Any]:
    """The analysis's document as clients see it: ``video.path`` (where the file lies on the server) becomes the
    video's media URL, so neither the structure nor the exports built from it reveal server paths."""
    document = dict(analysis.document)
    document["video"] = {**document["video"], "path": f"/v1/videos/{video_id}/media"}
    return document


@router.get("/{video_id}/structure", summary="the whole vidstruct.structure/1 document")
def structure(video_id: str, session: Session = Depends(db_session), _: ApiKey = Depends(require("read"))) -> dict:
    """The document analyze wrote, with ``video.path`` replaced by the video's media URL (no server paths)."""
    return _served_document(_analysis(session, video_id), video_id)


@router.get("/{video_id}/export", summary="the results in another tool's format")
def export(
    request: Request,
    video_id: str,
    format: str = Query(..., pattern="^(" + "|".join(EXPORT_FORMATS) + ")$"),
    part: str | None = Query(
        None, pattern="^[a-z_]{1,32}$", description="a second file of the format (webvtt: segments)"
    ),
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> Response:
    """The file ``vidstruct export-structure`` writes; ``part`` picks its companion file (``webvtt``:
    ``segments``, the metadata track; ``ava``: ``label_map``; ``labelstudio``: ``labeling``)."""
    assert format in FORMATS
    analysis = _analysis(session, video_id)
    settings = state(request).settings
    folder = settings.data_dir / analysis.folder
    doc = Structure(folder / STRUCTURE_FILE, _served_document(analysis, video_id))  # type: ignore[arg-type]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".export-") as tmp:
        main = Path(tmp) / f"{video_id}.{_EXTENSIONS[format]}"
        try:
            files = export_structure(doc, format, main)
        except StructureError as exc:
            raise UnprocessableError(f"cannot export as {format}: {str(exc).splitlines()[0]}") from None
        wanted = main
        if part is not None:
            wanted = next((f for f in files if f.name.startswith(f"{main.stem}.{part}.")), None)  # type: ignore[assignment]
            if wanted is None:
                raise NotFoundError(f"format {format} has no part {part!r}")
        media = _MEDIA_TYPES[format] if wanted == main else ("text/vtt" if wanted.suffix == ".vtt" else "text/plain")
        content = wanted.read_bytes()
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{wanted.name}"'})


@router.get("/{video_id}/thumbnails/{name}", summary="a JPEG thumbnail named in the results")
def thumbnail(
    request: Request,
    video_id: str,
    name: str,
    session: Session = Depends(db_session),
    key: ApiKey = Depends(require("read")),
) -> FileResponse:
    analysis = _analysis(session, video_id)
    require_viewable(session, video_id, key)
    paths = session.scalars(select(Thumbnail.path).where(Thumbnail.analysis_id == analysis.id)).all()
    match = next((p for p in paths if Path(p).name == name), None)
    file = state(request).settings.data_dir / analysis.folder / match if match else None
    if file is None or not file.is_file():
        raise NotFoundError(f"video {video_id} has no thumbnail {name[:100]!r}")
    return FileResponse(file, media_type="image/jpeg")


@router.get("/{video_id}/media", summary="the video file (HTTP range requests answer 206)")
def media(
    request: Request, video_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("read"))
) -> FileResponse:
    video = _video(session, video_id)
    require_viewable(session, video_id, key)
    file = video_file(video, state(request).settings.data_dir)
    if not file.is_file():
        raise NotFoundError(f"the file of video {video_id} is gone")
    media_type = _MEDIA_TYPES_BY_SUFFIX.get(file.suffix.lower(), "application/octet-stream")
    return FileResponse(file, media_type=media_type)


@router.delete("/{video_id}", summary="delete a video: its file (if uploaded), results and thumbnails")
def delete_video(
    request: Request, video_id: str, session: Session = Depends(db_session), key: ApiKey = Depends(require("admin"))
) -> dict[str, Any]:
    video = _video(session, video_id)
    settings = state(request).settings
    folders = session.scalars(select(Analysis.folder).where(Analysis.video_id == video_id)).all()
    analysis_ids = session.scalars(select(Analysis.id).where(Analysis.video_id == video_id)).all()
    reel_ids = session.scalars(select(Reel.id).where(Reel.video_id == video_id)).all()
    for table in (Segment, Shot, Window, Actor, Thumbnail, Reel):
        session.execute(delete(table).where(table.video_id == video_id))
    session.execute(delete(Analysis).where(Analysis.video_id == video_id))
    canceled = session.execute(
        update(Job)
        .where(Job.video_id == video_id, Job.status.in_(("QUEUED", "IN_PROGRESS")))
        .values(status="CANCELED", error="the video was deleted", finished_at=utc_now(), lease_owner=None,
                lease_expires_at=None)
    ).rowcount  # fmt: skip
    session.execute(update(Job).where(Job.video_id == video_id).values(video_id=None))
    session.delete(video)
    detail = {
        "analyses": len(analysis_ids), "reels": len(reel_ids), "file_removed": video.stored,
        "jobs_canceled": canceled,
    }  # fmt: skip
    session.add(AuditEntry(actor=f"key:{key.id}", action="video.delete", target=f"video:{video_id}", detail=detail))
    session.commit()
    if video.stored:
        video_file(video, settings.data_dir).unlink(missing_ok=True)
    for folder in folders:
        shutil.rmtree(settings.data_dir / Path(folder).parent, ignore_errors=True)
    for reel_id in reel_ids:  # the video's highlight reels go with it (every attempt's folder: reels/<id>/...)
        shutil.rmtree(settings.data_dir / "reels" / reel_id, ignore_errors=True)
    return {
        "video_id": video_id, "deleted": True, "analyses": len(analysis_ids), "reels": len(reel_ids),
        "jobs_canceled": canceled,
    }  # fmt: skip
