"""Collection search latency on a synthetic collection: label / time / metadata search and "A then B" pairs,
answered by the database (``vidstruct.service.search``), on SQLite and (when Debian's PostgreSQL binaries are
installed) a throwaway PostgreSQL cluster started as ``tests/service/pgcluster.py`` does.

The collection: ``--videos`` videos (durations 30-600 s, sizes, 0-2 tags of 8), each with one complete analysis
of ``--segments`` segments on average (50 labels, uniform start, 0.5-5 s long, uniform score, an actor track
0-9 on half of them), and an older analysis for one video in ten (its segments count in the total and must never
be returned). Rows go in by bulk Core inserts (the ingestion rate printed is that insert, not analyze).

Each query kind runs ``--repeats`` times with random labels; the table gives p50 / p95 latency in ms (the whole
page: SQL, rows and hit dicts, 100 hits a page). The alternative measured in the same run is the temporal query
done the naive way: fetch both labels' segments of the newest analyses and pair them in Python (it only
counts the pairs: no ordering, no page, no hit dicts, so the ratio flatters it).

Similar moments: every newest analysis also gets ``--windows`` recognition windows (1-2 s spans) whose
``--dim``-dimensional float32 embeddings are clustered (200 topic centres; a video draws one, its windows drift
around it), written to an ``embeddings.npy`` per analysis as analyze does. The index is built by the service's own
sync from the tables and files (build rate printed), then ``POST /v1/search/similar`` queries (a random 2-window
span, ``max_results=10``, other videos only) are timed end to end (``search_similar``: query windows, ANN, SQL
filter of the candidates, exact re-rank from the files, grouping), beside the exhaustive numpy alternative (one
matrix product over every current embedding, already in memory). Recall@10: the share of the exact top 10
(brute-force float64 cosine over the current windows of the other videos) that the service returns, and the same
for the raw index (the HNSW graph's own 10 nearest windows of other videos, bfloat16 distances, no re-rank).

    python benchmarks/service.py [--quick | --full] [--videos N] [--segments N] [--windows N] [--dim N]
                                 [--repeats N] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.orm import Session

from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.models import Analysis, Segment, Video, Window
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.search.clips import search_clips
from vidstruct.service.search.filters import current_analysis_condition
from vidstruct.service.search.params import ClipQuery, SequenceQuery, VideoFilter
from vidstruct.service.search.sequence import search_sequence
from vidstruct.service.similar.index import registry
from vidstruct.service.similar.query import SimilarQuery, query_vector, search_similar
from vidstruct.service.similar.space import space_of
from vidstruct.service.similar.vectors import normalize

LABELS = [f"action_{i:02d}" for i in range(50)]
TAGS = [f"tag{i}" for i in range(8)]
MODELS = {
    "localizer": {"name": "bmn", "task": "localization", "checkpoint_sha256": "0" * 64},
    "recognizer": {"name": "r2plus1d_bench", "task": "recognition", "checkpoint_sha256": "1" * 64},
}
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def populate(engine: Engine, videos: int, per_video: int, seed: int = 0) -> tuple[int, float]:
    """Insert the collection in bulk; returns (segment rows, seconds)."""
    rng = random.Random(seed)
    video_rows, analysis_rows, segment_rows = [], [], []
    for v in range(videos):
        vid = f"{v:032x}"
        duration = rng.uniform(30, 600)
        video_rows.append(
            {"id": vid, "sha256": f"{v:064x}", "path": f"/v/{v}.mp4", "stored": False,
             "size_bytes": rng.randrange(10**6, 10**9), "duration_s": duration, "probe": {},
             "tags": rng.sample(TAGS, rng.randrange(3)), "created_at": T0 + timedelta(minutes=v)}
        )  # fmt: skip
        kinds = ("old", "new") if v % 10 == 0 else ("new",)
        for kind in kinds:
            aid = f"{v:030x}{0 if kind == 'old' else 1:02x}"
            done = T0 + timedelta(minutes=v, seconds=30 if kind == "new" else 0)
            analysis_rows.append(
                {"id": aid, "video_id": vid, "profile_name": kind, "models": MODELS, "status": "complete",
                 "folder": f"a/{aid}", "document": {}, "completed_at": done}
            )  # fmt: skip
            for _ in range(per_video if kind == "new" else per_video // 2):
                begin = rng.uniform(0, duration)
                segment_rows.append(
                    {"analysis_id": aid, "video_id": vid, "label": rng.choice(LABELS), "start_s": begin,
                     "end_s": begin + rng.uniform(0.5, 5.0), "score": rng.random(), "source": "localizer",
                     "model": "localizer", "track": rng.randrange(10) if rng.random() < 0.5 else None}
                )  # fmt: skip
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Video.__table__), video_rows)
        conn.execute(insert(Analysis.__table__), analysis_rows)
        for i in range(0, len(segment_rows), 50_000):
            conn.execute(insert(Segment.__table__), segment_rows[i : i + 50_000])
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return len(segment_rows), time.perf_counter() - start


class Embeddings:
    """The current windows' embeddings, kept for the brute-force answers: ``vectors`` float32 [n, dim]
    (normalised), ``window_ids`` / ``video_ids`` [n], ``spans``: video id -> (window ids, starts, ends)."""

    def __init__(self) -> None:
        self.vectors: list[np.ndarray] = []
        self.window_ids: list[np.ndarray] = []
        self.video_ids: list[str] = []
        self.spans: dict[str, tuple[list[int], list[float], list[float]]] = {}

    def done(self) -> None:
        self.matrix = np.concatenate(self.vectors)
        self.ids = np.concatenate(self.window_ids)
        self.owner = np.array(self.video_ids)


def populate_windows(
    engine: Engine, data_dir: Path, per_video: int, dim: int, seed: int = 2
) -> tuple[Embeddings, float]:
    """Windows + an embeddings file for every newest analysis (the older ones keep none); returns the
    embeddings and the seconds the window inserts took."""
    rng = np.random.default_rng(seed)
    centres = normalize(rng.normal(size=(200, dim)))
    document = {"embeddings": {"file": "embeddings.npy", "rows": per_video, "dim": dim, "model": "recognizer"}}
    with engine.begin() as conn:
        conn.execute(update(Analysis).where(Analysis.profile_name == "new").values(document=document))
        analyses = conn.execute(
            select(Analysis.id, Analysis.video_id, Analysis.folder, Video.duration_s)
            .join(Video, Video.id == Analysis.video_id)
            .where(Analysis.profile_name == "new")
            .order_by(Analysis.id)
        ).all()
    out, seconds, next_id = Embeddings(), 0.0, 1
    for i in range(0, len(analyses), 500):
        rows: list[dict[str, Any]] = []
        for a in analyses[i : i + 500]:
            step = a.duration_s / per_video
            drift = np.cumsum(rng.normal(scale=0.15, size=(per_video, dim)), axis=0)
            vectors = normalize(centres[rng.integers(len(centres))] * 3.0 + drift + rng.normal(size=(per_video, dim)))
            folder = data_dir / a.folder
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "embeddings.npy", vectors)
            ids = list(range(next_id, next_id + per_video))
            next_id += per_video
            starts = [k * step for k in range(per_video)]
            ends = [min(a.duration_s, t + max(step, 1.0)) for t in starts]
            rows.extend(
                {"id": ids[k], "analysis_id": a.id, "video_id": a.video_id, "start_s": starts[k], "end_s": ends[k],
                 "embedding_row": k, "top": [{"label": LABELS[k % len(LABELS)], "prob": 0.5}], "model": "recognizer"}
                for k in range(per_video)
            )  # fmt: skip
            out.vectors.append(vectors)
            out.window_ids.append(np.array(ids))
            out.video_ids.extend([a.video_id] * per_video)
            out.spans[a.video_id] = (ids, starts, ends)
        start = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(Window.__table__), rows)
        seconds += time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    out.done()
    return out, seconds


def run_similar(engine: Engine, data_dir: Path, emb: Embeddings, repeats: int, seed: int = 3) -> dict[str, Any]:
    """Build the index (the service's sync), then time queries and measure recall@10 against brute force."""
    rng = random.Random(seed)
    factory = session_factory(engine)
    space = space_of(MODELS, "recognizer")
    assert space is not None
    index = registry(data_dir).get(space)
    start = time.perf_counter()
    with factory() as session:
        index.sync(session, data_dir, wait=True)  # built here, not by a background thread
    build_s = time.perf_counter() - start
    videos = list(emb.spans)

    def random_query() -> SimilarQuery:
        video = rng.choice(videos)
        _ids, starts, ends = emb.spans[video]
        k = rng.randrange(len(starts) - 1)
        return SimilarQuery(video_id=video, start_s=starts[k], end_s=ends[k + 1], max_results=10)

    def service() -> None:
        with factory() as session:
            search_similar(session, data_dir, random_query())

    def brute() -> None:
        q = emb.matrix[rng.randrange(len(emb.matrix))]
        np.argpartition(-(emb.matrix @ q), 10)[:10]

    def ann() -> None:
        with index.lock:
            index.search(emb.matrix[rng.randrange(len(emb.matrix))], 64 + len(emb.spans[videos[0]][0]))

    latencies = [
        ("similar moments, max_results=10 (ANN + SQL filter + exact re-rank)", *timed(service, repeats)),
        ("similar moments: the HNSW search alone (its part of the above)", *timed(ann, repeats)),
        ("similar moments, exhaustive numpy (the alternative; vectors in memory)", *timed(brute, repeats)),
    ]
    hits = raw_hits = total = 0
    exact64 = emb.matrix.astype(np.float64)
    owner = dict(zip(emb.ids.tolist(), emb.owner.tolist()))
    for _ in range(max(repeats, 100)):
        query = random_query()
        with factory() as session:
            _a, q, _n = query_vector(session, data_dir, query)
            answer = search_similar(session, data_dir, query)
        sims = exact64 @ q.astype(np.float64)
        other = emb.owner != query.video_id
        truth = set(emb.ids[other][np.argsort(-sims[other], kind="stable")[:10]].tolist())
        got = {w["window_id"] for m in answer["moments"] for w in m["windows"]}
        own = len(emb.spans[query.video_id][0])
        with index.lock:  # the graph alone: its 10 nearest of the other videos, in its own (bf16) order
            keys, _ = index.search(q, 10 + own)
        raw = [k for k in keys.tolist() if owner[k] != query.video_id][:10]
        hits += len(truth & got)
        raw_hits += len(truth & set(raw))
        total += 10
    return {"build_s": build_s, "size": index.size, "latencies": latencies, "recall": hits / total,
            "raw_recall": raw_hits / total, "queries": total // 10}  # fmt: skip


def naive_sequence(session: Session, first: str, then: str, within_s: float) -> int:
    """The alternative: both labels' segments of the newest analyses fetched, paired in Python."""
    rows = session.execute(
        select(Segment.analysis_id, Segment.label, Segment.start_s, Segment.end_s)
        .join(Analysis, Analysis.id == Segment.analysis_id)
        .where(Segment.label.in_((first, then)), current_analysis_condition())
    ).all()
    starts: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.label == then:
            starts[r.analysis_id].append(r.start_s)
    for values in starts.values():
        values.sort()
    pairs = 0
    for r in rows:
        if r.label == first:
            values = starts.get(r.analysis_id, [])
            pairs += bisect.bisect_right(values, r.end_s + within_s) - bisect.bisect_left(values, r.end_s)
    return pairs


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """p50 and p95 of ``repeats`` calls, in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def run_queries(engine: Engine, repeats: int, seed: int = 1) -> list[tuple[str, float, float]]:
    rng = random.Random(seed)
    factory = session_factory(engine)
    label = lambda: rng.choice(LABELS)  # noqa: E731

    def deep_page() -> None:
        query = ClipQuery(labels=(label(),), sort="score")
        token = None
        with factory() as session:
            for _ in range(10):
                token = search_clips(session, query, limit=100, token=token)["next_token"]

    def clips(make: Callable[[], ClipQuery]) -> Callable[[], None]:
        def call() -> None:
            with factory() as session:
                search_clips(session, make(), limit=100, token=None)

        return call

    def seq(make: Callable[[], SequenceQuery]) -> Callable[[], None]:
        def call() -> None:
            with factory() as session:
                search_sequence(session, make(), limit=100, token=None)

        return call

    def naive() -> None:
        with factory() as session:
            naive_sequence(session, label(), label(), 5.0)

    kinds: list[tuple[str, Callable[[], None]]] = [
        ("label, sort=score", clips(lambda: ClipQuery(labels=(label(),)))),
        ("label, score >= 0.9, sort=time", clips(lambda: ClipQuery(labels=(label(),), min_score=0.9, sort="time"))),
        ("3 labels, time 60-120 s", clips(lambda: ClipQuery(
            labels=(label(), label(), label()), start_s=60, end_s=120))),
        ("label + tag + duration <= 300 s", clips(lambda: ClipQuery(
            labels=(label(),), video=VideoFilter(tags=(rng.choice(TAGS),), max_duration_s=300)))),
        ("label, group_by=video", clips(lambda: ClipQuery(labels=(label(),), group_by="video"))),
        ("label, pages 1-10 (keyset)", deep_page),
        ("A then B within 5 s, sort=time", seq(lambda: SequenceQuery(first=label(), then=label(), within_s=5.0))),
        ("A then B within 5 s, same_track, sort=score", seq(lambda: SequenceQuery(
            first=label(), then=label(), within_s=5.0, same_track=True, sort="score"))),
        ("A then B, naive (fetch + pair in Python)", naive),
    ]  # fmt: skip
    return [(name, *timed(fn, repeats)) for name, fn in kinds]


def bench(url: str, name: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    upgrade(engine)
    rows, seconds = populate(engine, args.videos, args.segments)
    print(f"\n### {name}: {args.videos} videos, {rows} segments; bulk insert {rows / seconds:,.0f} segments/s\n")
    results = run_queries(engine, args.repeats)
    print("| query | p50 ms | p95 ms |\n|---|---:|---:|")
    for query, p50, p95 in results:
        print(f"| {query} | {p50:.1f} | {p95:.1f} |")
    seq_p50 = next(p for q, p, _ in results if q.startswith("A then B within 5 s, sort=time"))
    naive_p50 = next(p for q, p, _ in results if "naive" in q)
    print(f"\nnaive pairing / SQL self-join (p50): {naive_p50 / seq_p50:.1f}x", flush=True)
    if args.windows > 0:
        with tempfile.TemporaryDirectory(prefix="vidstruct-bench-data-") as data:
            emb, insert_s = populate_windows(engine, Path(data), args.windows, args.dim)
            n = len(emb.matrix)
            print(f"\n{n:,} window embeddings (dim {args.dim}); bulk insert {n / insert_s:,.0f} windows/s")
            sim = run_similar(engine, Path(data), emb, args.repeats)
            print(f"index build (service sync: windows table + files -> usearch HNSW, bf16): {sim['build_s']:.1f} s, "
                  f"{sim['size'] / sim['build_s']:,.0f} windows/s\n")  # fmt: skip
            print("| query | p50 ms | p95 ms |\n|---|---:|---:|")
            for query, p50, p95 in sim["latencies"]:
                print(f"| {query} | {p50:.1f} | {p95:.1f} |")
            print(f"\nrecall@10 vs brute force over {sim['queries']} queries: service (ANN + exact re-rank) "
                  f"{sim['recall']:.3f}; the graph alone (no re-rank) {sim['raw_recall']:.3f}", flush=True)  # fmt: skip
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 videos x 100 segments")
    parser.add_argument("--full", action="store_true", help="10,000 videos x 100 segments (the README numbers)")
    parser.add_argument("--videos", type=int, default=None)
    parser.add_argument("--segments", type=int, default=100, help="segments per video (newest analysis)")
    parser.add_argument("--windows", type=int, default=100, help="embedded windows per video (0: no similar rows)")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    if args.videos is None:
        args.videos = 10_000 if args.full else 1_000
    with tempfile.TemporaryDirectory(prefix="vidstruct-bench-") as tmp:
        if "sqlite" in args.db:
            bench(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", args)
        if "postgresql" in args.db:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
            from pgcluster import Cluster, pg_bin

            bindir = pg_bin()
            if bindir is None:
                print("\nPostgreSQL: not installed (Debian's postgresql package), skipped")
                return 0
            cluster = Cluster(bindir)
            try:
                bench(cluster.start(), "PostgreSQL", args)
            finally:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
