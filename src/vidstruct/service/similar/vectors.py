"""The collection's window embeddings, read from the database and each analysis's embeddings file.

An analysis's embeddings are the float32 ``[rows, dim]`` ``.npy`` file its document names (``embeddings.file``,
relative to the analysis folder, itself relative to the data folder); a ``windows`` row points at its row
(``embedding_row``). Vectors handed out here are L2-normalised float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Analysis, Window
from vidstruct.service.search.filters import current_analysis_condition
from vidstruct.service.similar.space import EmbeddingSpace, space_of


@dataclass(frozen=True)
class EmbeddedAnalysis:
    """A complete analysis with embeddings: where its file is and which space its vectors live in."""

    id: str
    video_id: str
    folder: str  # relative to the data folder
    file: str  # relative to ``folder``
    space: EmbeddingSpace


def _embedded(rows: Iterable[Any]) -> list[EmbeddedAnalysis]:
    out = []
    for r in rows:
        space = space_of(r.models, r.emb_model)
        if space is not None and r.emb_file:
            out.append(EmbeddedAnalysis(r.id, r.video_id, r.folder, r.emb_file, space))
    return out


def _columns() -> tuple[Any, ...]:
    return (
        Analysis.id,
        Analysis.video_id,
        Analysis.models,
        Analysis.folder,
        Analysis.document["embeddings"]["file"].as_string().label("emb_file"),
        Analysis.document["embeddings"]["model"].as_string().label("emb_model"),
    )


def current_embedded(session: Session, space_key: str | None = None) -> list[EmbeddedAnalysis]:
    """The newest complete analysis of every video, when it has embeddings (only those of ``space_key``)."""
    found = _embedded(session.execute(select(*_columns()).where(current_analysis_condition())))
    return [a for a in found if space_key is None or a.space.key == space_key]


def embedded_analyses(session: Session, analysis_ids: Iterable[str]) -> dict[str, EmbeddedAnalysis]:
    """``{id: analysis}`` for those of ``analysis_ids`` that have embeddings."""
    wanted = sorted(set(analysis_ids))
    found: dict[str, EmbeddedAnalysis] = {}
    for i in range(0, len(wanted), 500):
        rows = session.execute(select(*_columns()).where(Analysis.id.in_(wanted[i : i + 500])))
        found.update((a.id, a) for a in _embedded(rows))
    return found


def collection_signature(session: Session) -> list[Any]:
    """What changes whenever the set of newest analyses may have changed (an analysis added, a video deleted):
    ``[complete analyses, latest completed_at]``; cheap (one aggregate)."""
    count, latest = session.execute(
        select(func.count(Analysis.id), func.max(Analysis.completed_at)).where(Analysis.status == "complete")
    ).one()
    return [int(count), latest.isoformat() if isinstance(latest, datetime) else None]


def window_rows(session: Session, analysis_ids: Sequence[str]) -> list[Any]:
    """``(id, analysis_id, embedding_row)`` of the windows with an embedding of ``analysis_ids``, by id."""
    rows: list[Any] = []
    for i in range(0, len(analysis_ids), 500):
        rows.extend(
            session.execute(
                select(Window.id, Window.analysis_id, Window.embedding_row)
                .where(Window.analysis_id.in_(analysis_ids[i : i + 500]), Window.embedding_row.is_not(None))
                .order_by(Window.id)
            ).all()
        )
    return rows


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32; an all-zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0).astype(np.float32)


def _read_few(path: Path, index: np.ndarray) -> np.ndarray | None:
    """Rows ``index`` of a C-order 2-D ``.npy`` file by seek + read (a handful of rows: cheaper than a memory
    map); None when the file is not such an array (the caller falls back to numpy)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            return None
        if fortran or len(shape) != 2 or dtype.hasobject:
            return None
        if index.size and (index.min() < 0 or index.max() >= shape[0]):
            raise IndexError(f"{path.name}: a window row is outside the file ({shape[0]} rows)")
        offset, row_bytes = fh.tell(), shape[1] * dtype.itemsize
        out = np.empty((index.size, shape[1]), dtype=dtype)
        for i, row in enumerate(index.tolist()):
            fh.seek(offset + row * row_bytes)
            out[i] = np.frombuffer(fh.read(row_bytes), dtype=dtype)
        return out


def load_rows(data_dir: Path, analysis: EmbeddedAnalysis, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """Normalised float32 ``[len(rows), dim]`` of ``analysis``'s embeddings file (only the rows asked for are
    read). Raises OSError / IndexError / ValueError when the file or a row is missing or the file is no matrix."""
    path = data_dir / analysis.folder / analysis.file
    index = np.asarray(rows, dtype=np.int64).reshape(-1)
    found = _read_few(path, index) if index.size <= 32 else None
    if found is None:
        matrix = np.load(path, mmap_mode="r")
        if matrix.ndim != 2:
            raise ValueError(f"embeddings of analysis {analysis.id}: expected [rows, dim], got shape {matrix.shape}")
        if index.size and (index.min() < 0 or index.max() >= matrix.shape[0]):
            raise IndexError(f"embeddings of analysis {analysis.id}: a window row is outside the file")
        found = matrix[index]
    return normalize(np.asarray(found, dtype=np.float32))
