"""A ``vidstruct.structure/1`` document into the tables, and the analysis readers see.

:func:`add_analysis` adds one analysis row and its shots, segments, windows, actors and thumbnails to a
session; the caller commits them in the same transaction as the job's completion, so results appear whole
or not at all, and a retried job never adds them twice. :func:`current_analysis` is the newest complete
analysis of a video: a re-analysis replaces the old results only once it has committed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Actor, Analysis, Segment, Shot, Thumbnail, Window


def model_versions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What names each model of a document: name, task and checkpoint hash (what made the results)."""
    return {
        key: {"name": m["name"], "task": m["task"], "checkpoint_sha256": m.get("checkpoint_sha256")}
        for key, m in document.get("models", {}).items()
    }


def add_analysis(
    session: Session,
    document: dict[str, Any],
    *,
    video_id: str,
    job_id: str | None,
    folder: str,
    min_confidence: float = 0.0,
    features: Collection[str] = ("shots", "labels", "segments", "actors"),
) -> Analysis:
    """Add the analysis of ``video_id`` that ``document`` describes (``folder``: relative to the data folder).

    Only the rows of the ``features`` asked for go into the tables (``shots``; ``labels``: the recognition
    windows; ``segments``; ``actors``), and segments scoring under ``min_confidence`` are left out; the stored
    document keeps everything, as analyze wrote it.
    """
    profile = document.get("profile") or {}
    analysis = Analysis(
        video_id=video_id,
        job_id=job_id,
        profile_name=profile.get("name", "default"),
        profile_sha256=profile.get("sha256"),
        models=model_versions(document),
        folder=folder,
        document=document,
    )
    session.add(analysis)
    session.flush()
    common = {"analysis_id": analysis.id, "video_id": video_id}
    session.add_all(
        Shot(**common, index=s["index"], start_s=s["start_s"], end_s=s["end_s"], confidence=s["confidence"],
             thumbnail=s.get("thumbnail"), model=s["model"])
        for s in (document.get("shots", []) if "shots" in features else [])
    )  # fmt: skip
    session.add_all(
        Segment(**common, label=s["label"], start_s=s["start_s"], end_s=s["end_s"], score=s["score"],
                source=s["source"], model=s["model"], shot=s.get("shot"), track=s.get("track"),
                thumbnail=s.get("thumbnail"))
        for s in (document.get("segments", []) if "segments" in features else [])
        if s["score"] >= min_confidence
    )  # fmt: skip
    session.add_all(
        Window(**common, start_s=w["start_s"], end_s=w["end_s"], embedding_row=w.get("embedding_row"), top=w["top"],
               model=w["model"])
        for w in (document.get("windows", []) if "labels" in features else [])
    )  # fmt: skip
    session.add_all(
        Actor(**common, track_id=a["track_id"], time_s=a["time_s"], box=a["box"], score=a["score"],
              actions=a["actions"], model=a["model"])
        for a in (document.get("actors", []) if "actors" in features else [])
    )  # fmt: skip
    session.add_all(
        Thumbnail(**common, path=t["path"], time_s=t["time_s"], kind=t["kind"], ref=t["ref"])
        for t in document.get("thumbnails", [])
    )
    return analysis


def current_analysis(session: Session, video_id: str) -> Analysis | None:
    """The newest complete analysis of ``video_id`` (None: none finished yet)."""
    return session.scalar(
        select(Analysis)
        .where(Analysis.video_id == video_id, Analysis.status == "complete")
        .order_by(Analysis.completed_at.desc(), Analysis.id.desc())
        .limit(1)
    )
