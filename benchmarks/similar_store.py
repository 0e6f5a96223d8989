"""Storing one finished job's windows in the similar-moments index of a large collection: the whole-graph rewrite
(before: the graph read, the job's windows added, the whole graph written back, as ``SpaceIndex.sync`` does) and
the delta segment (after: ``LayeredIndex.sync`` as ``index_finished_job`` runs it in a worker: the manifest and
the segments read, one segment written; the graph untouched until a compaction).

The collection is ``benchmarks/service.py``'s (``--videos`` videos, ``--windows`` clustered windows each, dim
``--dim``, SQLite). After the full build, ``--jobs`` jobs each add one video with ``--windows`` windows; each job is
stored both ways (each way in its own index folder, both over the same database), timed separately. Also timed:
a compaction of all those segments into the graph, and the first query of a process whose graph was deleted
(brute force over the database's windows while a background thread rebuilds).

    python benchmarks/similar_store.py [--videos 1000] [--windows 100] [--dim 128] [--jobs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import MODELS, populate, populate_windows
from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.models import Video
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.db.store import add_analysis
from vidstruct.service.similar import layered
from vidstruct.service.similar.index import SpaceIndex
from vidstruct.service.similar.layered import LayeredIndex
from vidstruct.service.similar.space import space_of
from vidstruct.service.similar.vectors import normalize


def add_job(factory, data: Path, n: int, windows: int, dim: int) -> None:  # type: ignore[no-untyped-def]
    """One more video with a complete analysis of ``windows`` embedded windows (what a finished job stores)."""
    vectors = normalize(np.random.default_rng(1000 + n).normal(size=(windows, dim)))
    rows = [{"start_s": float(k), "end_s": float(k + 1), "top": [], "model": "recognizer", "embedding_row": k}
            for k in range(windows)]  # fmt: skip
    embeddings = {"file": "embeddings.npy", "rows": windows, "dim": dim, "model": "recognizer"}
    folder = f"jobs/{n}/a"
    (data / folder).mkdir(parents=True, exist_ok=True)
    np.save(data / folder / "embeddings.npy", vectors)
    with factory() as session, session.begin():
        video = Video(sha256=f"{10**9 + n:064x}", path=f"/v/job{n}.mp4", stored=False, size_bytes=1,
                      duration_s=float(windows), tags=[])  # fmt: skip
        session.add(video)
        session.flush()
        add_analysis(session, {"models": MODELS, "windows": rows, "embeddings": embeddings}, video_id=video.id,
                     job_id=None, folder=folder)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args(argv)
    space = space_of(MODELS, "recognizer")
    assert space is not None
    with tempfile.TemporaryDirectory(prefix="vidstruct-bench-store-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        factory = session_factory(engine)
        data = Path(tmp) / "data"
        populate(engine, args.videos, 1)
        emb, _ = populate_windows(engine, data, args.windows, args.dim)
        after_root, before_root = data / "indexes", data / "indexes-before"
        start = time.perf_counter()
        with factory() as session:
            LayeredIndex(after_root, space, background=False).sync(session, data)
        build_s = time.perf_counter() - start
        before_root.mkdir()
        for suffix in (".usearch", ".json"):
            shutil.copy(after_root / f"{space.key}{suffix}", before_root / f"{space.key}{suffix}")
        graph_mb = (after_root / f"{space.key}.usearch").stat().st_size / 1e6
        print(f"{len(emb.matrix):,} windows (dim {args.dim}); full build {build_s:.1f} s; graph file {graph_mb:.1f} MB")
        before, after = [], []
        for n in range(args.jobs):
            add_job(factory, data, n, args.windows, args.dim)
            with factory() as session:
                start = time.perf_counter()
                old = SpaceIndex(before_root, space)  # what index_finished_job did: read, add, write it all
                old.sync(session, data)
                before.append(time.perf_counter() - start)
                start = time.perf_counter()
                LayeredIndex(after_root, space, background=False).sync(session, data)
                after.append(time.perf_counter() - start)
        print(f"\nstoring one job's {args.windows} windows, {args.jobs} jobs (median / max, ms):")
        print("| way | median ms | max ms |\n|---|---:|---:|")
        print(f"| before: whole graph read + rewritten | {statistics.median(before) * 1e3:.0f} | "
              f"{max(before) * 1e3:.0f} |")  # fmt: skip
        print(f"| after: one delta segment | {statistics.median(after) * 1e3:.0f} | {max(after) * 1e3:.0f} |")
        index = LayeredIndex(after_root, space, background=False)
        layered.COMPACT_ROWS, layered.COMPACT_FRACTION = 0, 0.0
        start = time.perf_counter()
        index._refresh()
        assert index.compact()
        print(f"\ncompaction of {args.jobs} segments ({args.jobs * args.windows} rows) into the graph: "
              f"{time.perf_counter() - start:.1f} s (graph read, rows added, graph written)")  # fmt: skip
        (after_root / f"{space.key}.usearch").unlink()
        layered.INLINE_MAX_WINDOWS = 0  # the API process rebuilds in the background whatever the size
        api_side = LayeredIndex(after_root, space)
        with factory() as session:
            start = time.perf_counter()
            with api_side.lock:
                api_side.sync(session, data)
                api_side.search(emb.matrix[0], 64)
            first_s = time.perf_counter() - start
            assert api_side.fallback is not None
            start = time.perf_counter()
            with api_side.lock:
                api_side.sync(session, data)
                api_side.search(emb.matrix[1], 64)
            second_s = time.perf_counter() - start
        start = time.perf_counter()
        api_side.join_rebuild()
        rebuilt_s = time.perf_counter() - start
        print(f"graph deleted: first query {first_s:.1f} s (brute-force rows read from the database), next "
              f"{second_s * 1e3:.0f} ms; background rebuild done {rebuilt_s:.1f} s later")  # fmt: skip
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
