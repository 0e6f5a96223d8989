"""``GET /v1/search/sequence``: "A then B within Δ seconds", one self-join of ``segments``.

A pair is a ``first`` segment A and a ``then`` segment B of the same analysis (so the same video), that
analysis being the newest complete one of its video, with

- ``A.end_s <= B.start_s <= A.end_s + within_s`` (``gap_s = B.start_s - A.end_s`` in [0, within_s], both edges
  included), or, with ``allow_overlap``, ``A.start_s < B.start_s <= A.end_s + within_s`` (B may start while
  A lasts: a negative ``gap_s``; B starting with or before A never follows it);
- ``same_track``: ``A.track = B.track``, both not null (segments without an actor track never match then);
- ``min_score``: both segments score at least that.

The join looks B up through the index on ``segments (label, video_id, start_s)``: for each A, the B rows of
one label in one video inside a time window. ``sort=time``: videos in upload order, then A's start, A's id,
B's id; ``sort=score``: the pair score ``A.score * B.score`` (highest first), then A's id, B's id.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from vidstruct.service.db.models import Analysis, Segment, Video
from vidstruct.service.search import cursor
from vidstruct.service.search.cursor import SortKey
from vidstruct.service.search.filters import current_analysis_condition, video_conditions
from vidstruct.service.search.params import SequenceQuery
from vidstruct.service.search.results import analysis_models, segment_hit


def _columns(alias: Any, prefix: str) -> list[Any]:
    names = ("video_id", "analysis_id", "label", "score", "start_s", "end_s", "track", "source", "model", "thumbnail")
    return [alias.id.label(f"{prefix}segment_id"), *(getattr(alias, n).label(f"{prefix}{n}") for n in names)]


class _Prefixed:
    """The columns of one side of a pair row, read without their prefix (for :func:`segment_hit`)."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


def sequence_statement(query: SequenceQuery, dialect: str) -> tuple[Select[Any], list[SortKey], list[str]]:
    """The pair query (unordered, unpaged), its sort keys and the row attributes holding them."""
    a, b = aliased(Segment, name="a"), aliased(Segment, name="b")
    lower = b.start_s > a.start_s if query.allow_overlap else b.start_s >= a.end_s
    conditions = [
        a.label == query.first,
        current_analysis_condition(),
        *video_conditions(query.video, dialect),
    ]
    if query.same_track:
        conditions += [a.track.is_not(None), b.track == a.track]
    if query.min_score is not None:
        conditions += [a.score >= query.min_score, b.score >= query.min_score]
    pair_score = (a.score * b.score).label("pair_score")
    stmt = (
        select(*_columns(a, "a_"), *_columns(b, "b_"), (b.start_s - a.end_s).label("gap_s"), pair_score,
               Video.created_at)
        .select_from(a)
        .join(Analysis, Analysis.id == a.analysis_id)
        .join(Video, Video.id == a.video_id)
        .join(b, (b.label == query.then) & (b.video_id == a.video_id) & (b.analysis_id == a.analysis_id)
              & lower & (b.start_s <= a.end_s + query.within_s))
        .where(*conditions)
    )  # fmt: skip
    if query.sort == "score":
        keys = [SortKey(a.score * b.score, True, float), SortKey(a.id, False, int), SortKey(b.id, False, int)]
        names = ["pair_score", "a_segment_id", "b_segment_id"]
    else:
        keys = [SortKey(Video.created_at, False, datetime), SortKey(a.video_id, False, str),
                SortKey(a.start_s, False, float), SortKey(a.id, False, int), SortKey(b.id, False, int)]  # fmt: skip
        names = ["created_at", "a_video_id", "a_start_s", "a_segment_id", "b_segment_id"]
    return stmt, keys, names


def search_sequence(session: Session, query: SequenceQuery, *, limit: int, token: str | None) -> dict[str, Any]:
    """A page of ``limit`` pairs after ``token``: ``{"hits": [...], "next_token": str | None}``."""
    stmt, keys, names = sequence_statement(query, session.get_bind().dialect.name)
    fp = cursor.fingerprint({"kind": "sequence", **asdict(query)})
    if token:
        stmt = stmt.where(cursor.after(keys, cursor.decode(token, fp, keys)))
    rows = session.execute(stmt.order_by(*(k.order() for k in keys)).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    analyses = analysis_models(session, (r.a_analysis_id for r in page))
    hits = [
        {
            "video_id": r.a_video_id,
            "analysis_id": r.a_analysis_id,
            "gap_s": round(r.gap_s, 6),
            "score": r.pair_score,
            "first": segment_hit(_Prefixed(r, "a_"), analyses),
            "then": segment_hit(_Prefixed(r, "b_"), analyses),
        }
        for r in page
    ]
    token_out = cursor.encode(fp, [getattr(page[-1], n) for n in names]) if more else None
    return {"hits": hits, "next_token": token_out}
