"""Keeping the indexes up to date as jobs finish (called by the worker after a job's results have committed)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Job
from vidstruct.service.similar.index import SpaceIndex
from vidstruct.service.similar.vectors import embedded_analyses


def index_finished_job(data_dir: Path, factory: sessionmaker[Session], job_id: str) -> int | None:
    """Sync the index of the space of ``job_id``'s analysis (read from disk, updated, written back, not kept in
    this process's memory); returns its size, or None when the analysis has no embeddings. Raises on failure:
    the caller logs it and goes on, since the next query rebuilds what is missing from the database."""
    with factory() as session:
        analysis_id = session.scalar(select(Job.analysis_id).where(Job.id == job_id))
        analysis = embedded_analyses(session, [analysis_id]).get(analysis_id) if analysis_id else None
        if analysis is None:
            return None
        index = SpaceIndex(data_dir / "indexes", analysis.space)
        index.sync(session, data_dir)
        return index.size
