"""What a hit looks like: a segment with the model version that made it (from its analysis's ``models``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Analysis


def analysis_models(session: Session, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{analysis_id: {"profile": name, "models": {...}}}`` for ``ids`` (one query; documents not loaded)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Analysis.id, Analysis.profile_name, Analysis.models).where(Analysis.id.in_(wanted))
    ).all()
    return {r.id: {"profile": r.profile_name, "models": r.models} for r in rows}


def segment_hit(row: Any, analyses: dict[str, dict[str, Any]], *, prefix: str = "") -> dict[str, Any]:
    """One segment row (columns ``segment_id, video_id, analysis_id, label, score, start_s, end_s, track,
    source, model, thumbnail``) as the API shows it: seconds, a probability, ``model_version`` (name, task,
    checkpoint hash of the model that made it) and ``thumbnail`` (the name ``/v1/videos/{id}/thumbnails/{name}``
    serves, or None)."""
    analysis = analyses.get(row.analysis_id, {"profile": None, "models": {}})
    return {
        "segment_id": row.segment_id,
        "video_id": row.video_id,
        "analysis_id": row.analysis_id,
        "label": row.label,
        "score": row.score,
        "start_s": row.start_s,
        "end_s": row.end_s,
        "duration_s": round(row.end_s - row.start_s, 3),
        "track": row.track,
        "source": row.source,
        "model": row.model,
        "model_version": analysis["models"].get(row.model),
        "profile": analysis["profile"],
        "thumbnail": PurePosixPath(row.thumbnail).name if row.thumbnail else None,
    }
