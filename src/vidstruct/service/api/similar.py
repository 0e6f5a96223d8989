"""``POST /v1/search/similar``: moments across the collection whose embeddings are nearest (cosine) to a span of
a collection video; scope ``read``. JSON body (unknown fields refused):

``video_id`` (32 hex), ``start_s`` < ``end_s`` (seconds, inside the video), ``max_results`` (windows taken,
1-100, default 10; grouped into at most that many moments), ``exclude_same_video`` (default true), optional
``labels`` / ``min_score`` (a window's top labels) and video filters (``tags``, ``min_duration_s``,
``max_duration_s``). Every moment names the embedding model (``model_version``: name, task, checkpoint hash);
only the newest complete analysis of each video is searched, and only analyses of the query's model.

Errors as problem JSON: 404 unknown video; 422 a malformed body, an empty span, a span outside the video or
with no window, a video without an analysis or embeddings. An uploaded clip as the query is not supported yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, require, state
from vidstruct.service.db.models import ApiKey
from vidstruct.service.search.params import VideoFilter, parse_labels, parse_tags
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
