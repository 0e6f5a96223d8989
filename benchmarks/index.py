"""``vidstruct index`` throughput: videos per minute indexed into the service's database, 1 vs 2 workers, as a
process pool and as Ray tasks, on SQLite and (given one) PostgreSQL.

Input: ``--videos`` synthetic untrimmed videos (``vidstruct synth --task localize``: real H.264, 96 px, 25 fps;
``--duration-s`` each; 12 x 10 s by default, 6 x 4 s with ``--quick``) and a demo-like profile: the demo's
recognizer architecture (``r2plus1d_tiny`` widths 8/16/32/64, 8 frames every 4th at 25 fps) with random weights
(cost does not depend on the weights), 1.28 s windows every 0.5 s, a small BMN localizer on its features,
TransNetV2 shots (``--shots``; ``--quick``: content shots), thumbnails; the models of ``benchmarks/analyze.py``.

Each row runs :func:`vidstruct.service.indexing.index_collection` (what ``vidstruct index`` runs) over the whole
collection into a fresh, migrated database and data folder, so nothing is skipped: hashing, probing, the
analysis, the storing transaction, the moderation-free commit and the similar-moments index update all count,
and so does loading the models in each worker process. Rows:

- ``pool, 1 worker``: this process, 1 torch thread; ``pool, 2 workers``: two worker processes (forkserver),
  1 torch thread each;
- ``ray, 1 worker`` / ``ray, 2 workers``: one Ray task per video (1 CPU each, 1 torch thread) on a local Ray of 1
  or 2 CPUs started just before the run (its start-up is not counted; starting its worker processes, like the
  pool's, is).

Each row: the median of ``--repeats`` runs (wall-clock), rows interleaved round by round after one warm-up round
that is not counted (``--no-warmup``: none). PostgreSQL: ``--pg-url URL`` (a server whose database may be written:
a fresh database is made per run), or ``--pg-throwaway`` to start a throwaway cluster from Debian's binaries
(``tests/service/pgcluster.py``); otherwise PostgreSQL is not measured and the table says so.

Usage: ``python benchmarks/index.py [--quick] [--videos N] [--duration-s S] [--shots transnetv2|content]
[--repeats R] [--no-warmup] [--no-ray] [--pg-url URL | --pg-throwaway]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = ROOT / "bench_out" / "index"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "service"))


def make_collection(folder: Path, videos: int, duration_s: float) -> dict[str, str]:
    from vidstruct.data.synth import generate

    out = folder / f"synth_{videos}x{duration_s:g}s"
    if not (out / "videos").is_dir() or len(list((out / "videos").glob("*.mp4"))) < videos:
        shutil.rmtree(out, ignore_errors=True)
        generate("localize", out, num_videos=videos, seed=11, size=96, fps=25, duration=duration_s)
    return {p.stem: str(p) for p in sorted((out / "videos").glob("*.mp4"))[:videos]}


def make_profile(folder: Path, shots: str) -> Path:
    from analyze import make_models  # benchmarks/analyze.py: the demo-like models

    rec, loc = make_models(folder / "models")
    path = folder / "profile.yaml"
    path.write_text(
        "task: analyze\nname: bench-index\n"
        f"recognizer: {{checkpoint: {rec.resolve()}, window_s: 1.28, stride_s: 0.5, top_k: 5}}\n"
        f"localizer: {{checkpoint: {loc.resolve()}, top_k: 10}}\n"
        f"shots: {{detector: {shots}}}\n"
        "runtime: {device: cpu}\n"
    )
    return path


def fresh_db(kind: str, base: Path, pg_url: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite+pysqlite:///{base / 'vidstruct.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"vs_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def drop_db(kind: str, url: str, pg_url: str | None) -> None:
    if kind != "postgresql":
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def run_once(kind: str, mode: str, workers: int, videos: dict[str, str], profile: Path, pg_url: str | None) -> float:
    """Seconds (wall clock) to index ``videos`` into a fresh database; raises unless every video was indexed."""
    from vidstruct.recipes.analyze import analyze_settings, load_profile
    from vidstruct.service.db.migrate import upgrade
    from vidstruct.service.db.session import make_engine
    from vidstruct.service.indexing import IndexTarget, RayResources, index_collection

    base = WORKDIR / "runs" / uuid.uuid4().hex[:8]
    base.mkdir(parents=True)
    url = fresh_db(kind, base, pg_url)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    prof, composed = load_profile(profile)
    settings = analyze_settings(prof, composed, name="bench-index", report=False)
    target = IndexTarget(db_url=url, data_dir=str(base / "data"), profile_name="bench-index")
    resources = RayResources(num_cpus=1.0, num_gpus=0.0, max_retries=0)
    ray = None
    if mode == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        report = index_collection(target, settings, videos, workers=workers, ray=mode == "ray", resources=resources)
        seconds = time.perf_counter() - start
    finally:
        if ray is not None:
            ray.shutdown()
    drop_db(kind, url, pg_url)
    shutil.rmtree(base, ignore_errors=True)
    if len(report.indexed) != len(videos):
        raise RuntimeError(f"{kind} {mode} x{workers}: {report.summary()}: {report.failed[:1]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 videos x 4 s, content shots, 2 repeats")
    parser.add_argument("--videos", type=int, default=None)
    parser.add_argument("--duration-s", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--shots", choices=["transnetv2", "content"], default=None, help="shot detector")
    parser.add_argument("--no-warmup", action="store_true", help="no uncounted first round")
    parser.add_argument("--no-ray", action="store_true", help="process pool rows only")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL server URL (postgresql+psycopg://...)")
    parser.add_argument("--pg-throwaway", action="store_true", help="start a throwaway PostgreSQL cluster")
    args = parser.parse_args(argv)
    n = args.videos or (6 if args.quick else 12)
    duration = args.duration_s or (4.0 if args.quick else 10.0)
    repeats = args.repeats or (2 if args.quick else 3)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)  # the 1-worker row runs in this process
    WORKDIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORKDIR / "runs", ignore_errors=True)
    videos = make_collection(WORKDIR, n, duration)
    shots = args.shots or ("content" if args.quick else "transnetv2")
    profile = make_profile(WORKDIR, shots)

    cluster = None
    pg_url = args.pg_url
    if pg_url is None and args.pg_throwaway:
        from pgcluster import Cluster, pg_bin

        bindir = pg_bin()
        if bindir is not None:
            cluster = Cluster(bindir)
            pg_url = cluster.start()
    dbs = ["sqlite"] + (["postgresql"] if pg_url else [])
    modes = [("pool", 1), ("pool", 2)] + ([] if args.no_ray else [("ray", 1), ("ray", 2)])
    rows = [(db, mode, w) for db in dbs for mode, w in modes]
    times: dict[tuple[str, str, int], list[float]] = {row: [] for row in rows}
    try:
        first = 1 if args.no_warmup else 0
        for round_ in range(first, repeats + 1):  # round 0: warm-up (Ray worker processes, page cache), not counted
            for row in rows:
                seconds = run_once(*row, videos, profile, pg_url)
                if round_ > 0:
                    times[row].append(seconds)
                print(f"round {round_} {row}: {seconds:.1f} s", file=sys.stderr, flush=True)
    finally:
        if cluster is not None:
            cluster.stop()

    print(f"\n### vidstruct index: {n} videos x {duration:g} s (96 px, 25 fps), {shots} shots, median of {repeats} "
          f"runs, {os.cpu_count()} CPUs\n")  # fmt: skip
    print("| database | runner | workers | videos / min | x vs 1 worker |\n|---|---|---:|---:|---:|")
    for db, mode, workers in rows:
        rate = n / statistics.median(times[(db, mode, workers)]) * 60.0
        one = n / statistics.median(times[(db, mode, 1)]) * 60.0
        print(f"| {db} | {mode} | {workers} | {rate:.1f} | {rate / one:.2f} |")
    if not pg_url:
        print("\nPostgreSQL: not measured (give --pg-url URL or --pg-throwaway)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
