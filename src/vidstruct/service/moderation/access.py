"""What ``blocked`` means for the other endpoints: a blocked video's pixels (``/media``, ``/thumbnails``) are
withheld (451) from keys that cannot review (``read``, ``write``); ``review`` and ``admin`` keys still get them,
to decide. Its metadata and results stay readable and say ``"moderation": {"blocked": true, ...}``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vidstruct.service.auth import grants
from vidstruct.service.db.models import ApiKey
from vidstruct.service.errors import ServiceError
from vidstruct.service.moderation.checker import video_moderation


class BlockedError(ServiceError):
    """The video is blocked by moderation and the key may not review it (451)."""

    status, title = 451, "Unavailable For Legal Reasons"


def require_viewable(session: Session, video_id: str, key: ApiKey) -> None:
    """Raise :class:`BlockedError` when ``video_id`` is blocked and ``key`` cannot review."""
    if grants(key.scope, "review"):
        return
    state = video_moderation(session, video_id)
    if state["blocked"]:
        raise BlockedError(f"video {video_id} is blocked by moderation until a reviewer dismisses its flags")
