"""Load on the HTTP API over loopback: ``vidstruct serve --workers 0`` (the API alone, one uvicorn process) on
127.0.0.1, driven by ``--clients`` concurrent HTTP clients, on SQLite and (given one) PostgreSQL.

Two phases per database, each a fixed number of requests (the run is bounded and stops by itself):

- ``uploads``: ``--uploads`` multipart ``POST /v1/jobs`` of one real 2 s H.264 mp4 (``vidstruct synth``, 96 px),
  each streamed to disk and probed by the server, and queued as a job (no worker runs, so the jobs stay queued);
- ``status``: ``--requests`` reads, alternating ``GET /v1/jobs/{id}`` (a random uploaded job) and
  ``GET /v1/jobs?max_results=20``.

Reported: p50 / p95 latency (ms, client side, from sending to the whole answer read), requests per second,
non-2xx answers, and the jobs queued in the database afterwards (it must equal ``--uploads``). Wall-clock
numbers: run it on a quiet machine and read them as ±20% on shared cores.

Usage: ``python benchmarks/service_load.py [--quick] [--clients 32] [--requests 1000] [--uploads 100]
[--pg-url URL | --pg-throwaway]``
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "service"))
HOST = "127.0.0.1"  # loopback only
START_TIMEOUT_S = 120.0


def make_video(folder: Path) -> Path:
    from vidstruct.data.synth import generate

    generate("classify", folder, num_videos=1, seed=3, size=96, fps=25, duration=2.0)
    return next((folder / "videos").glob("*.mp4"))


def start_api(data_dir: Path, db_url: str, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("vidstruct")
    cmd = [str(exe), "serve", "--quiet", "--workers", "0", "--host", HOST, "--port", str(port),
           "--data-dir", str(data_dir), "--db", db_url]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"vidstruct serve exited {proc.returncode}: {proc.stderr.read().strip()[-500:]}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_api(proc)
    raise RuntimeError(f"vidstruct serve did not answer /healthz within {START_TIMEOUT_S:.0f} s")


def stop_api(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def timed(call) -> tuple[float, int, object]:
    """(ms, status code, the answer's JSON or None) of one request; a transport error counts as status 0."""
    start = time.perf_counter()
    try:
        answer = call()
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else None
        return (time.perf_counter() - start) * 1e3, answer.status_code, body
    except httpx.HTTPError:
        return (time.perf_counter() - start) * 1e3, 0, None


def summary(name: str, results: list[tuple[float, int, object]], wall_s: float) -> dict[str, float | str]:
    ms = sorted(r[0] for r in results)
    return {
        "phase": name, "requests": len(results), "p50": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))], "per_s": len(results) / wall_s,
        "non_2xx": sum(1 for r in results if not 200 <= r[1] < 300),
    }  # fmt: skip


def run_database(kind: str, db_url: str, video: Path, args: argparse.Namespace) -> list[dict]:
    from pgcluster import free_port
    from sqlalchemy import func, select

    from vidstruct.service.auth import create_key
    from vidstruct.service.db.migrate import upgrade
    from vidstruct.service.db.models import Job
    from vidstruct.service.db.session import make_engine, session_factory, transaction

    data_dir = Path(tempfile.mkdtemp(prefix=f"vidstruct-load-{kind}-"))
    engine = make_engine(db_url)
    upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        key = create_key(session, "write", name="load benchmark")[0]
    port = free_port()
    proc = start_api(data_dir, db_url, port)
    payload = video.read_bytes()
    rows = []
    try:
        limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
        with httpx.Client(base_url=f"http://{HOST}:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=120, limits=limits) as client, ThreadPoolExecutor(args.clients) as pool:  # fmt: skip

            def upload(i: int):
                files = {"file": (f"load_{i}.mp4", payload, "video/mp4")}
                return timed(lambda: client.post("/v1/jobs", files=files, data={"features": "shots"}))

            start = time.perf_counter()
            uploads = list(pool.map(upload, range(args.uploads)))
            rows.append(summary("uploads", uploads, time.perf_counter() - start))
            job_ids = [body["job_id"] for _, status, body in uploads
                       if 200 <= status < 300 and isinstance(body, dict) and "job_id" in body]  # fmt: skip
            if not job_ids:
                raise RuntimeError("no upload was accepted: nothing to read back")
            rng = random.Random(0)
            targets = [f"/v1/jobs/{rng.choice(job_ids)}" if i % 2 == 0 else "/v1/jobs?max_results=20"
                       for i in range(args.requests)]  # fmt: skip
            start = time.perf_counter()
            reads = list(pool.map(lambda url: timed(lambda: client.get(url)), targets))
            rows.append(summary("status", reads, time.perf_counter() - start))
    finally:
        stop_api(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
    with factory() as session:
        queued = session.scalar(select(func.count()).select_from(Job).where(Job.status == "QUEUED"))
    engine.dispose()
    for row in rows:
        row["database"], row["queued_after"] = kind, queued
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 clients, 200 reads, 20 uploads")
    parser.add_argument("--clients", type=int, default=None, help="concurrent HTTP clients (default 32)")
    parser.add_argument("--requests", type=int, default=None, help="job status / list reads (default 1000)")
    parser.add_argument("--uploads", type=int, default=None, help="multipart uploads of a 2 s mp4 (default 100)")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL server URL (postgresql+psycopg://...)")
    parser.add_argument("--pg-throwaway", action="store_true", help="start a throwaway PostgreSQL cluster")
    args = parser.parse_args(argv)
    for name, full, quick in (("clients", 32, 8), ("requests", 1000, 200), ("uploads", 100, 20)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if min(args.clients, args.requests, args.uploads) < 1:
        parser.error("--clients, --requests and --uploads must be at least 1")
    from index import drop_db, fresh_db  # benchmarks/index.py: a fresh database per run

    work = Path(tempfile.mkdtemp(prefix="vidstruct-load-"))
    video = make_video(work / "video")
    cluster = None
    pg_url = args.pg_url
    if pg_url is None and args.pg_throwaway:
        from pgcluster import Cluster, pg_bin

        bindir = pg_bin()
        if bindir is None:
            print("no PostgreSQL binaries (make postgresql): PostgreSQL not measured", file=sys.stderr)
        else:
            cluster = Cluster(bindir)
            pg_url = cluster.start()
    rows: list[dict] = []
    try:
        for kind in ["sqlite"] + (["postgresql"] if pg_url else []):
            url = fresh_db(kind, work, pg_url)  # SQLite: WORK/vidstruct.db
            try:
                rows += run_database(kind, url, video, args)
            finally:
                drop_db(kind, url, pg_url)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\n### API load: {args.clients} clients over {HOST}, API alone in one process, load average {load:.1f}\n")
    print("| database | phase | requests | p50 ms | p95 ms | requests / s | non-2xx | jobs queued after |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['database']} | {r['phase']} | {r['requests']} | {r['p50']:.0f} | {r['p95']:.0f} | "
              f"{r['per_s']:.1f} | {r['non_2xx']} | {r['queued_after']} |")  # fmt: skip
    if not pg_url:
        print("\nPostgreSQL: not measured (give --pg-url URL or --pg-throwaway)")
    return 1 if any(r["non_2xx"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
