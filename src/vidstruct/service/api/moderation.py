"""``/v1/moderation``: the flags the policy raised on stored results, reviews (appended to the audit log) and
re-checking the collection after a policy change.

- ``GET /v1/moderation/flags`` (scope review): flags by status (``open`` by default; ``escalated``,
  ``reviewed``, ``superseded``, ``all``), severity and video, newest first, paged by ``next_token``;
- ``GET /v1/moderation/flags/{id}`` (review): one flag with its reviews;
- ``POST /v1/moderation/flags/{id}/review`` (review) ``{"decision": "confirm|dismiss|escalate", "note": ...}``;
- ``GET /v1/moderation/policy`` (review): the policy in force and the one the collection was last checked with;
- ``POST /v1/moderation/recheck`` (admin): read the policy file again and re-check every stored result.

There is no route that changes or deletes an audit entry. Blocked videos (a ``block`` flag open, escalated or
confirmed) say ``"blocked": true`` in ``GET /v1/videos/{id}`` (``moderation``) and in each of their flags.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, require
from vidstruct.service.api.pagination import decode_token, page_token
from vidstruct.service.db.models import ApiKey, ModerationFlag
from vidstruct.service.errors import ConflictError, NotFoundError
from vidstruct.service.moderation.checker import LIVE_STATUSES, applied_policy_sha256, is_blocking
from vidstruct.service.moderation.reviews import review_flag, reviews_of
from vidstruct.service.moderation.runtime import PolicySource, recheck

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])
_ID = "^[0-9a-f]{32}$"  # every id the API shows (anything else, a NUL byte included, is a 422 before the database)


class ReviewRequest(BaseModel):
    """A reviewer's decision on a flag (``confirm``: a violation; ``dismiss``: not one; ``escalate``: needs
    another reviewer) and an optional note."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["confirm", "dismiss", "escalate"]
    note: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00]*$")


def _policy_source(request: Request) -> PolicySource:
    return request.app.state.moderation


def _blocked_videos(session: Session, video_ids: set[str]) -> set[str]:
    if not video_ids:
        return set()
    flags = session.scalars(
        select(ModerationFlag).where(
            ModerationFlag.video_id.in_(video_ids),
            ModerationFlag.action == "block",
            ModerationFlag.status.in_(LIVE_STATUSES),
        )
    )
    return {f.video_id for f in flags if is_blocking(f)}


def flag_view(flag: ModerationFlag, blocked: bool) -> dict[str, Any]:
    # the thumbnails route serves a thumbnail by its file name (the stored path is relative to the analysis folder)
    thumb = f"/v1/videos/{flag.video_id}/thumbnails/{PurePosixPath(flag.thumbnail).name}" if flag.thumbnail else None
    return {
        "flag_id": flag.id,
        "status": flag.status,
        "decision": flag.decision,
        "severity": flag.severity,
        "action": flag.action,
        "video_id": flag.video_id,
        "video_blocked": blocked,
        "evidence": {
            "source": flag.source,
            "segment_id": flag.segment_id,
            "actor_id": flag.actor_id,
            "track": flag.track,
            "label": flag.label,
            "start_s": round(flag.start_s, 3),
            "end_s": round(flag.end_s, 3),
            "probability": flag.probability,
            "thumbnail": flag.thumbnail,
            "thumbnail_url": thumb,
        },
        "rule": flag.rule,
        "analysis_id": flag.analysis_id,
        "models": flag.models,
        "policy_sha256": flag.policy_sha256,
        "created_at": flag.created_at.isoformat(),
        "updated_at": flag.updated_at.isoformat(),
    }


@router.get("/flags", summary="moderation flags (open ones by default), newest first")
def list_flags(
    status: Literal["open", "escalated", "reviewed", "superseded", "all"] = "open",
    severity: Literal["low", "medium", "high"] | None = None,
    video_id: str | None = Query(default=None, pattern=_ID),
    max_results: int = Query(default=100, ge=1, le=1000),
    next_token: str | None = Query(default=None, max_length=256),
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("review")),
) -> dict[str, Any]:
    offset = decode_token(next_token)
    query = select(ModerationFlag)
    if status != "all":
        query = query.where(ModerationFlag.status == status)
    if severity is not None:
        query = query.where(ModerationFlag.severity == severity)
    if video_id is not None:
        query = query.where(ModerationFlag.video_id == video_id)
    query = query.order_by(ModerationFlag.created_at.desc(), ModerationFlag.id).offset(offset).limit(max_results + 1)
    rows = list(session.scalars(query))
    has_more = len(rows) > max_results
    rows = rows[:max_results]
    blocked = _blocked_videos(session, {f.video_id for f in rows})
    return {
        "flags": [flag_view(f, f.video_id in blocked) for f in rows],
        "next_token": page_token(offset, len(rows), max_results, has_more),
    }


def _flag_with_reviews(session: Session, flag_id: str) -> dict[str, Any]:
    flag = session.get(ModerationFlag, flag_id)
    if flag is None:
        raise NotFoundError(f"no flag {flag_id[:64]!r}")
    view = flag_view(flag, flag.video_id in _blocked_videos(session, {flag.video_id}))
    view["reviews"] = reviews_of(session, flag_id)
    return view


@router.get("/flags/{flag_id}", summary="one flag with its evidence and reviews")
def get_flag(
    flag_id: str = PathParam(pattern=_ID),
    session: Session = Depends(db_session),
    _: ApiKey = Depends(require("review")),
) -> dict:
    return _flag_with_reviews(session, flag_id)


@router.post("/flags/{flag_id}/review", summary="decide on a flag (kept in the append-only audit log)")
def review(
    body: ReviewRequest,
    flag_id: str = PathParam(pattern=_ID),
    session: Session = Depends(db_session),
    key: ApiKey = Depends(require("review")),
) -> dict[str, Any]:
    review_flag(session, flag_id, body.decision, body.note, key)
    session.commit()
    return _flag_with_reviews(session, flag_id)


@router.get("/policy", summary="the moderation policy in force and the one the collection was checked with")
def policy(request: Request, session: Session = Depends(db_session), _: ApiKey = Depends(require("review"))) -> dict:
    current = _policy_source(request).current()
    return {
        "configured": current is not None,
        "sha256": current.sha256 if current else None,
        "applied_sha256": applied_policy_sha256(session),
        "rules": [r.describe() for r in current.rules] if current else [],
    }


@router.post("/recheck", summary="re-read the policy file and re-check every stored result (no re-analysis)")
def recheck_collection(
    request: Request, session: Session = Depends(db_session), key: ApiKey = Depends(require("admin"))
) -> dict[str, Any]:
    current = _policy_source(request).current(strict=True)
    if current is None:
        raise ConflictError("no moderation policy is configured (start the server with --policy FILE)")
    result = recheck(session, current, f"key:{key.id}")
    session.commit()
    return {"policy_sha256": current.sha256, "opened": result.opened, "kept": result.kept,
            "superseded": result.superseded}  # fmt: skip
