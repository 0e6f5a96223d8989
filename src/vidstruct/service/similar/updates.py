"""Keeping the indexes up to date as jobs finish (called by the worker after a job's results have committed)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Job
from vidstruct.service.similar.layered import LayeredIndex
from vidstruct.service.similar.vectors import embedded_analyses


def index_finished_job(data_dir: Path, factory: sessionmaker[Session], job_id: str) -> int | None:
    """Sync the index of the space of ``job_id``'s analysis: its windows go into a new delta segment (the graph
    is read only to merge the segments once they pass their bound, or rebuilt here when lost); returns the size
    of graph + segments, or None when the analysis has no embeddings. Raises on failure: the caller logs it and
    goes on, since the next query catches up from the database."""
    with factory() as session:
        analysis_id = session.scalar(select(Job.analysis_id).where(Job.id == job_id))
        analysis = embedded_analyses(session, [analysis_id]).get(analysis_id) if analysis_id else None
        if analysis is None:
            return None
        index = LayeredIndex(data_dir / "indexes", analysis.space, background=False)
        index.sync(session, data_dir)
        return index.size
