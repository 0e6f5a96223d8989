"""``POST /v1/search/similar``: moments across the collection whose embeddings are nearest (cosine) to a span of
a collection video; scope ``read``. JSON body (unknown fields refused):

``video_id`` (32 hex), ``start_s`` < ``end_s`` (seconds, inside the video), ``max_results`` (windows taken,
1-100, default 10; grouped into at most that many moments), ``exclude_same_video`` (default true), optional
``labels`` / ``min_score`` (a window's top labels) and video filters (``tags``, ``min_duration_s``,
``max_duration_s``). Every moment names the embedding model (``model_version``: name, task, checkpoint hash);
only the newest complete analysis of each video is searched, and only analyses of the query's model.

Errors as problem JSON: 404 unknown video; 422 a malformed body, an empty span, a span outside the video or
with no window, a video without an analysis or embeddings.

``POST /v1/search/similar/clip``: the same answer for an uploaded clip (multipart: ``file``, at most
:data:`~vidstruct.service.similar.clip.MAX_CLIP_S` seconds and the upload limit; ``profile`` or ``model`` naming
the embedding space, default the space of the collection's newest analysis; ``max_results``, ``labels`` (comma
list), ``min_score``, ``tags`` (comma list), ``min_duration_s``, ``max_duration_s``). The clip is embedded in the
API process, one clip at a time (:mod:`vidstruct.service.similar.clip`), and never stored: 422 for a file that is
not a video, too long or shorter than one window, an unknown profile; 404 for an unknown model key; 503 when
another clip holds the embedder for more than a minute.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vidstruct.service.api.deps import ServiceState, db_session, require, state
from vidstruct.service.api.uploads import read_job_form
from vidstruct.service.db.models import ApiKey
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.jobs.intake import probe_or_refuse
from vidstruct.service.search.params import VideoFilter, parse_labels, parse_tags
from vidstruct.service.similar.clip import MAX_CLIP_S, search_clip
from vidstruct.service.similar.query import SimilarQuery, search_similar

router = APIRouter(prefix="/v1/search", tags=["search"])
_MAX_TIME_S = 1e7


class SimilarRequest(BaseModel):
    """The query span and the filters (seconds; probabilities in [0, 1])."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    video_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="a video of the collection")
    start_s: float = Field(ge=0, le=_MAX_TIME_S, description="span start (seconds)")
    end_s: float = Field(gt=0, le=_MAX_TIME_S, description="span end (seconds), after start_s")
    max_results: int = Field(10, ge=1, le=100, description="nearest windows taken (grouped into moments)")
    exclude_same_video: bool = Field(True, description="leave out the query video's own windows")
    labels: list[str] | None = Field(None, max_length=50, description="a window's top labels include one")
    min_score: float | None = Field(None, ge=0, le=1, description="probability of that label (or the best)")
    tags: list[str] | None = Field(None, max_length=50, description="the hit's video carries every tag")
    min_duration_s: float | None = Field(None, ge=0, le=_MAX_TIME_S, description="shortest hit video (seconds)")
    max_duration_s: float | None = Field(None, ge=0, le=_MAX_TIME_S, description="longest hit video (seconds)")


@router.post("/similar", summary="moments across the collection nearest to a span of a video, by embedding")
def similar(
    body: SimilarRequest,
    request: Request,
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("read")),
) -> dict[str, Any]:
    """The ``max_results`` windows nearest to the span's mean embedding, grouped into moments (windows of one
    video whose spans overlap or touch), best first; ``similarity`` is the cosine similarity in [-1, 1]."""
    query = SimilarQuery(
        video_id=body.video_id,
        start_s=body.start_s,
        end_s=body.end_s,
        max_results=body.max_results,
        exclude_same_video=body.exclude_same_video,
        labels=parse_labels(body.labels, name="labels"),
        min_score=body.min_score,
        video=VideoFilter(
            min_duration_s=body.min_duration_s, max_duration_s=body.max_duration_s, tags=parse_tags(body.tags)
        ),
    )
    return search_similar(session, state(request).settings.data_dir, query)


class ClipFields(BaseModel):
    """The text fields of ``POST /v1/search/similar/clip`` (form values; lists as comma lists)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    profile: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,100}$", description="analysis profile name")
    model: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,100}$", description="embedding space key")
    max_results: int = Field(10, ge=1, le=100, description="nearest windows taken (grouped into moments)")
    labels: str | None = Field(None, max_length=10_000, description="comma list: a window's top labels include one")
    min_score: float | None = Field(None, ge=0, le=1, description="probability of that label (or the best)")
    tags: str | None = Field(None, max_length=10_000, description="comma list: the hit's video carries every tag")
    min_duration_s: float | None = Field(None, ge=0, le=_MAX_TIME_S, description="shortest hit video (seconds)")
    max_duration_s: float | None = Field(None, ge=0, le=_MAX_TIME_S, description="longest hit video (seconds)")


def _clip_fields(fields: dict[str, str]) -> ClipFields:
    try:
        return ClipFields.model_validate({k: v for k, v in fields.items() if v != ""})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "form"
        raise UnprocessableError(f"{where}: {first['msg']}") from None


_CLIP_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": f"a video of at most "
                                 f"{MAX_CLIP_S:g} s, at least one window long; not stored"},
                        "profile": {"type": "string", "description": "profile whose recognizer embeds the clip"},
                        "model": {"type": "string", "description": "embedding space key (an answer's model.key)"},
                        "max_results": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                        "labels": {"type": "string", "description": "comma list: a window's top labels include one"},
                        "min_score": {"type": "number", "minimum": 0, "maximum": 1},
                        "tags": {"type": "string", "description": "comma list: the hit's video carries every tag"},
                        "min_duration_s": {"type": "number", "minimum": 0, "description": "shortest hit video (s)"},
                        "max_duration_s": {"type": "number", "minimum": 0, "description": "longest hit video (s)"},
                    },
                }
            }
        },
    }
}  # fmt: skip


def _search_clip(service: ServiceState, path: Any, fields: ClipFields) -> dict[str, Any]:
    probe_or_refuse(path)  # not a video: 422 before any model is loaded
    query = SimilarQuery(
        video_id="",
        start_s=0.0,
        end_s=MAX_CLIP_S,
        max_results=fields.max_results,
        exclude_same_video=False,
        labels=parse_labels([fields.labels] if fields.labels else None, name="labels"),
        min_score=fields.min_score,
        video=VideoFilter(min_duration_s=fields.min_duration_s, max_duration_s=fields.max_duration_s,
                          tags=parse_tags([fields.tags] if fields.tags else None)),
    )  # fmt: skip
    with service.factory() as session:
        return search_clip(session, service.settings, path, query, profile=fields.profile, model=fields.model)


@router.post(
    "/similar/clip",
    openapi_extra=_CLIP_DOC,
    summary="moments across the collection nearest to an uploaded clip, by embedding",
)
async def similar_clip(request: Request, _: ApiKey = Depends(require("read"))) -> dict[str, Any]:
    """The ``max_results`` windows nearest to the mean embedding of the clip's windows (the backbone and window
    settings of the chosen embedding space), grouped into moments, best first; the clip is not stored."""
    service = state(request)
    settings = service.settings
    form = await read_job_form(
        request, settings.uploads_dir, max_upload=settings.max_upload_bytes, max_field=settings.max_form_bytes
    )
    try:
        if form.upload is None:
            raise UnprocessableError("file: upload the clip as the multipart field 'file'")
        fields = _clip_fields(form.fields)
        return await run_in_threadpool(_search_clip, service, form.upload.path, fields)
    finally:
        if form.upload is not None:
            form.upload.discard()
