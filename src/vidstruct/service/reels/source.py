"""A stored video's newest complete structure document and its file, for reels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from vidstruct.pipeline.reels import ReelError
from vidstruct.service.db.models import Video
from vidstruct.service.db.store import current_analysis
from vidstruct.service.jobs.intake import video_file
from vidstruct.structure.files import STRUCTURE_FILE, Structure

__all__ = ["ReelSource", "reel_source"]


@dataclass(frozen=True)
class ReelSource:
    """The structure of video ``video_id`` (its newest complete analysis) and where the video's bytes are."""

    video_id: str
    analysis_id: str
    structure: Structure
    video: Path


def reel_source(session: Session, data_dir: Path, video_id: str) -> ReelSource:
    """:class:`ReelSource` of ``video_id``; :class:`ReelError` when the video is unknown or not analyzed yet."""
    video = session.get(Video, video_id)
    if video is None:
        raise ReelError(f"no video with id {video_id!r} in the service's database")
    analysis = current_analysis(session, video_id)
    if analysis is None:
        raise ReelError(f"video {video_id!r} has no finished analysis yet")
    structure = Structure(data_dir / analysis.folder / STRUCTURE_FILE, analysis.document)  # type: ignore[arg-type]
    return ReelSource(video_id, analysis.id, structure, video_file(video, data_dir))
