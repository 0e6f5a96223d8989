"""A similar-moments query: the span of a collection video → the nearest windows across the collection.

The query vector is the mean of the (L2-normalised) embeddings of the query video's windows overlapping
``[start_s, end_s]`` (open overlap), normalised again. The space's ANN index gives candidates (``4 *
max_results``, at least 64, widened until enough pass the filters); they are kept only when their analysis is
still the newest complete one of its video and passes the filters, then re-ranked exactly (float32 cosine from
the embeddings files). The best ``max_results`` windows are grouped into moments: windows of one analysis whose
spans overlap or touch merge into one ``{video_id, start_s, end_s, similarity (the best window's), windows}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Analysis, Video, Window
from vidstruct.service.db.store import current_analysis
from vidstruct.service.errors import NotFoundError, UnprocessableError
from vidstruct.service.search.filters import current_analysis_condition, video_conditions
from vidstruct.service.search.params import VideoFilter, check_range
from vidstruct.service.similar.index import registry
from vidstruct.service.similar.layered import LayeredIndex
from vidstruct.service.similar.space import EmbeddingSpace
from vidstruct.service.similar.vectors import EmbeddedAnalysis, embedded_analyses, load_rows, normalize

_EPS_S = 1e-6  # seconds: spans that touch within this merge, ends this far past the video still count
CANDIDATES_PER_RESULT = 4  # ANN candidates asked for per window wanted (then widened 4x while too few pass)
MIN_CANDIDATES = 64


@dataclass(frozen=True)
class SimilarQuery:
    """``POST /v1/search/similar``: the moments nearest to ``[start_s, end_s]`` of ``video_id`` (seconds).

    ``exclude_same_video``: leave out the query video's own windows. ``labels``: a window's top labels include one
    of them (with a probability of at least ``min_score`` when given); ``min_score`` alone: the window's best
    label has at least that probability. ``video``: conditions on the video a hit comes from."""

    video_id: str
    start_s: float
    end_s: float
    max_results: int = 10
    exclude_same_video: bool = True
    labels: tuple[str, ...] = ()
    min_score: float | None = None
    video: VideoFilter = field(default_factory=VideoFilter)

    def __post_init__(self) -> None:
        check_range(self.start_s, self.end_s, "start_s", "end_s")
        if self.start_s == self.end_s:
            raise UnprocessableError("start_s equals end_s: the span is empty")

    def keeps(self, top: Sequence[dict[str, Any]]) -> bool:
        """Whether a window with these top labels (``[{label, prob}]``, best first) passes the label filters."""
        if self.labels:
            floor = -1.0 if self.min_score is None else self.min_score
            return any(t.get("label") in self.labels and float(t.get("prob", 0.0)) >= floor for t in top)
        if self.min_score is not None:
            return bool(top) and float(top[0].get("prob", 0.0)) >= self.min_score
        return True


def query_vector(session: Session, data_dir: Path, query: SimilarQuery) -> tuple[EmbeddedAnalysis, np.ndarray, int]:
    """(the query video's newest analysis, the normalised query vector [dim], windows averaged); 404 / 422
    for an unknown video, one without an analysis or embeddings, a span outside it or one with no windows."""
    video = session.get(Video, query.video_id)
    if video is None:
        raise NotFoundError(f"no video {query.video_id}")
    analysis = current_analysis(session, video.id)
    if analysis is None:
        raise UnprocessableError(f"video {video.id} has no complete analysis yet")
    embedded = embedded_analyses(session, [analysis.id]).get(analysis.id)
    if embedded is None:
        raise UnprocessableError(f"the newest analysis of video {video.id} has no embeddings")
    duration = video.duration_s
    if duration is None:
        duration = session.scalar(select(Window.end_s).where(Window.analysis_id == analysis.id)
                                  .order_by(Window.end_s.desc()).limit(1))  # fmt: skip
    if duration is not None and (query.start_s >= duration or query.end_s > duration + _EPS_S):
        raise UnprocessableError(f"[{query.start_s}, {query.end_s}] s is outside the video (0-{duration:.3f} s)")
    rows = session.scalars(
        select(Window.embedding_row).where(
            Window.analysis_id == analysis.id,
            Window.embedding_row.is_not(None),
            Window.start_s < query.end_s,
            Window.end_s > query.start_s,
        )
    ).all()
    if not rows:
        raise UnprocessableError(f"no window with an embedding overlaps [{query.start_s}, {query.end_s}] s")
    try:
        vectors = load_rows(data_dir, embedded, rows)
    except (OSError, IndexError, ValueError) as exc:
        raise UnprocessableError(f"the embeddings of video {video.id} are unreadable: {exc}") from exc
    mean = vectors.mean(axis=0)
    if not np.any(mean):
        raise UnprocessableError("the span's embeddings average to zero: no direction to search")
    return embedded, normalize(mean[None])[0], len(rows)


def _own_windows(session: Session, analysis_id: str) -> int:
    return int(session.scalar(select(func.count(Window.id)).where(Window.analysis_id == analysis_id)) or 0)


def _candidates(session: Session, keys: np.ndarray, index: LayeredIndex, query: SimilarQuery) -> list[Any]:
    """The windows among ``keys`` of the newest analyses in the index's space that pass the query's filters."""
    live = index.live()
    dialect = session.get_bind().dialect.name
    found: list[Any] = []
    ids = [int(k) for k in keys]
    for i in range(0, len(ids), 500):
        stmt = (
            select(Window.id, Window.video_id, Window.analysis_id, Window.start_s, Window.end_s,
                   Window.embedding_row, Window.top)
            .join(Analysis, Analysis.id == Window.analysis_id)
            .join(Video, Video.id == Window.video_id)
            .where(Window.id.in_(ids[i : i + 500]), Window.embedding_row.is_not(None), current_analysis_condition(),
                   *video_conditions(query.video, dialect))
        )  # fmt: skip
        if query.exclude_same_video:
            stmt = stmt.where(Window.video_id != query.video_id)
        found.extend(r for r in session.execute(stmt) if r.analysis_id in live and query.keeps(r.top or []))
    return found


def _rerank(session: Session, data_dir: Path, rows: list[Any], vector: np.ndarray) -> list[tuple[float, Any]]:
    """``(exact cosine similarity, row)`` for each candidate, best first (ties: smaller window id)."""
    analyses = embedded_analyses(session, {r.analysis_id for r in rows})
    by_analysis: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_analysis[r.analysis_id].append(r)
    scored: list[tuple[float, Any]] = []
    for analysis_id, group in by_analysis.items():
        analysis = analyses.get(analysis_id)
        if analysis is None:
            continue
        try:
            vectors = load_rows(data_dir, analysis, [r.embedding_row for r in group])
        except (OSError, IndexError, ValueError):
            continue  # its file went away: it cannot be compared exactly (the index drops it at a rebuild)
        scored.extend(zip((vectors @ vector).tolist(), group))
    scored.sort(key=lambda s: (-s[0], s[1].id))
    return scored


def group_moments(scored: Sequence[tuple[float, Any]], model: dict[str, Any]) -> list[dict[str, Any]]:
    """Windows of one analysis whose spans overlap or touch, merged into moments; best moment first."""
    by_analysis: dict[str, list[tuple[float, Any]]] = defaultdict(list)
    for sim, row in scored:
        by_analysis[row.analysis_id].append((sim, row))
    moments: list[dict[str, Any]] = []
    for group in by_analysis.values():
        group.sort(key=lambda s: (s[1].start_s, s[1].end_s))
        current: list[tuple[float, Any]] = []
        for sim, row in group:
            if current and row.start_s > max(r.end_s for _, r in current) + _EPS_S:
                moments.append(_moment(current, model))
                current = []
            current.append((sim, row))
        moments.append(_moment(current, model))
    moments.sort(key=lambda m: (-m["similarity"], m["video_id"], m["start_s"]))
    return moments


def _moment(windows: list[tuple[float, Any]], model: dict[str, Any]) -> dict[str, Any]:
    first = windows[0][1]
    return {
        "video_id": first.video_id,
        "analysis_id": first.analysis_id,
        "start_s": min(r.start_s for _, r in windows),
        "end_s": max(r.end_s for _, r in windows),
        "similarity": max(s for s, _ in windows),
        "model_version": model,
        "windows": [
            {"window_id": r.id, "start_s": r.start_s, "end_s": r.end_s, "similarity": s, "top": r.top}
            for s, r in windows
        ],
    }


def nearest_windows(
    session: Session, data_dir: Path, space: EmbeddingSpace, vector: np.ndarray, query: SimilarQuery, own: int = 0
) -> tuple[list[tuple[float, Any]], int, int]:
    """The ``query.max_results`` windows of ``space`` nearest to the normalised ``vector`` [dim] that pass
    ``query``'s filters, re-ranked exactly: ``([(cosine, row)] best first, index size, candidates asked)``. ``own``:
    windows the filters will drop for sure (the query video's), asked for on top in the first round."""
    index = registry(data_dir).get(space)
    with index.lock:
        index.sync(session, data_dir)
        count = max(CANDIDATES_PER_RESULT * query.max_results, MIN_CANDIDATES) + own
        while True:
            keys, _ = index.search(vector, count)
            rows = _candidates(session, keys, index, query)
            if len(rows) >= query.max_results or count >= index.size:
                break
            count *= 4
        size = index.size
    return _rerank(session, data_dir, rows, vector)[: query.max_results], size, int(len(keys))


def search_similar(session: Session, data_dir: Path, query: SimilarQuery) -> dict[str, Any]:
    """The answer of ``POST /v1/search/similar`` (see the module docstring)."""
    embedded, vector, averaged = query_vector(session, data_dir, query)
    # the query video's own windows are often the nearest: with exclude_same_video they must not crowd out the
    # others, so the first round asks for that many more
    own = _own_windows(session, embedded.id) if query.exclude_same_video else 0
    scored, size, candidates = nearest_windows(session, data_dir, embedded.space, vector, query, own)
    model = embedded.space.describe()
    return {
        "model": model,
        "query": {"video_id": query.video_id, "analysis_id": embedded.id, "start_s": query.start_s,
                  "end_s": query.end_s, "windows": averaged},
        "index": {"size": size, "candidates": candidates},
        "moments": group_moments(scored, model),
    }  # fmt: skip
