"""Real processes: a ``vidstruct worker`` killed with SIGKILL mid-job loses the job when its lease expires and
another worker completes it exactly once (PostgreSQL); ``vidstruct serve`` with one worker process answers over
loopback HTTP, finishes a job, and on SIGTERM mid-job releases it and exits 0 (SQLite); an unmigrated database
is refused.

Every wait is bounded (it fails the test, it never hangs) and asserts on states, not on durations.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from pgcluster import free_port
from servicekit import cut_video, wait_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.cli.main import main
from vidstruct.service.auth import create_key
from vidstruct.service.db.models import Analysis, Job, Segment
from vidstruct.service.db.session import make_engine, session_factory, transaction
from vidstruct.service.jobs.intake import new_video, probe_or_refuse
from vidstruct.service.jobs.queue import submit_job
from vidstruct.service.jobs.worker import JobWorker
from vidstruct.service.settings import ServiceSettings

DEADLINE_S = 180.0


def _wait(what: str, check: Callable[[], Any], proc: subprocess.Popen | None = None) -> Any:
    return wait_for(what, check, proc, deadline_s=DEADLINE_S)


def _env(settings: ServiceSettings) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "VIDSTRUCT_DB": settings.database_url}


def _worker(settings: ServiceSettings, lease_s: float) -> subprocess.Popen:
    argv = [sys.executable, "-m", "vidstruct", "worker", "--quiet", "--data-dir", str(settings.data_dir),
            "--profile-dir", str(settings.profile_dirs[0]), "--default-profile", "tiny", "--lease-s", str(lease_s),
            "--poll-s", "0.1"]  # fmt: skip
    return subprocess.Popen(argv, env=_env(settings))


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s, so a worker is still busy with it when it is stopped (12 s was done before the stop now and then on
    an idle machine: the worker reports progress within a few frames, then the test sends its signal)."""
    return cut_video(tmp_path_factory.mktemp("long") / "long.mp4", 60.0, cut_s=30.0)


def _long_job(settings: ServiceSettings, long_video: Path) -> tuple[sessionmaker[Session], str]:
    factory = session_factory(make_engine(settings.database_url))
    info = probe_or_refuse(long_video)
    with factory() as session:
        video = new_video("a" * 64, str(long_video), stored=False, size=1, info=info, filename=None)
        session.add(video)
        session.commit()
        job, _ = submit_job(session, video_id=video.id, features=["segments"], profile="tiny", min_confidence=0.0)
    return factory, job.id


def _state(factory: sessionmaker[Session], job_id: str) -> Job:
    with factory() as session:
        return session.get(Job, job_id)


# these start processes (many seconds each on a busy machine: they import torch), so each runs on one database:
# the SIGKILL takeover on PostgreSQL (the production setting; the same takeover with a simulated dead lease runs
# on both in test_service_jobs.py), `vidstruct serve` on SQLite
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_killed_worker_loses_its_job_to_another_and_results_are_stored_once(
    settings: ServiceSettings, long_video: Path
) -> None:
    factory, job_id = _long_job(settings, long_video)
    proc = _worker(settings, lease_s=2)
    _wait("the worker reports progress", lambda: _state(factory, job_id).progress, proc)
    proc.kill()
    proc.wait(timeout=DEADLINE_S)
    dead = _state(factory, job_id)
    assert (dead.status, dead.attempts) == ("IN_PROGRESS", 1) and dead.lease_owner
    assert JobWorker(settings, factory=factory).run(exit_when_idle=True) == 0  # still leased: not taken
    _wait("the lease expires", lambda: _state(factory, job_id).lease_expires_at < datetime.now(timezone.utc))
    assert JobWorker(settings, factory=factory).run(exit_when_idle=True) == 1
    done = _state(factory, job_id)
    assert (done.status, done.attempts, done.error) == ("SUCCEEDED", 2, None)
    with factory() as session:
        analyses = session.scalars(select(Analysis)).all()
        segments = session.scalar(select(func.count()).select_from(Segment))
    assert len(analyses) == 1 and segments == len(analyses[0].document["segments"]) > 0  # stored exactly once
    assert sorted(p.name for p in settings.analyses_dir.iterdir()) == [f"{job_id}-2"]  # the dead one's folder went
    factory.kw["bind"].dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_over_http_and_a_graceful_stop_mid_job(
    settings: ServiceSettings, video_bytes: bytes, long_video: Path
) -> None:
    """A job done over loopback HTTP; then SIGTERM while the worker is in the middle of a long one: the server
    exits 0, the job is back in the queue (nothing lost) and a worker started later completes it."""
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        key, _ = create_key(session, "write")
    port = free_port()
    argv = [sys.executable, "-m", "vidstruct", "serve", "--quiet", "--data-dir", str(settings.data_dir),
            "--profile-dir", str(settings.profile_dirs[0]), "--default-profile", "tiny", "--workers", "1",
            "--port", str(port), "--lease-s", "10", "--allow-root", str(long_video.parent)]  # fmt: skip
    proc = subprocess.Popen(argv, env=_env(settings))
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    try:

        def health() -> dict | None:
            try:
                body = httpx.get(f"{base}/healthz", timeout=5).json()
            except httpx.TransportError:
                return None
            return body if body["workers"]["alive"] == 1 else None

        assert _wait("the API answers with one live worker", health, proc)["status"] == "ok"
        files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
        job_id = httpx.post(f"{base}/v1/jobs", headers=auth, files=files, timeout=30).json()["job_id"]

        def job(job_id: str) -> dict:
            return httpx.get(f"{base}/v1/jobs/{job_id}", headers=auth, timeout=5).json()

        done = _wait("the job finishes", lambda: (j := job(job_id))["status"] in ("SUCCEEDED", "FAILED") and j, proc)
        assert done["status"] == "SUCCEEDED", done["error"]
        segments = httpx.get(f"{base}/v1/videos/{done['video_id']}/segments", headers=auth, timeout=5).json()
        assert len(segments["segments"]) == 2
        # bounded loopback load: 240 status / list / health / result reads and 12 submissions sharing one
        # idempotency token, 24 at a time: no 5xx, and the 12 submissions make exactly one job
        urls = [f"/v1/jobs/{job_id}", "/v1/jobs?max_results=5", "/healthz",
                f"/v1/videos/{done['video_id']}/segments"] * 60  # fmt: skip
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client, ThreadPoolExecutor(24) as pool:
            submit = lambda _: client.post("/v1/jobs", files=files, data={"client_request_token": "load-1"})  # noqa: E731
            posts = list(pool.map(submit, range(12)))
            gets = list(pool.map(client.get, urls))
        assert sorted({r.status_code for r in gets}) == [200] and {r.status_code for r in posts} <= {200, 202}
        assert len({r.json()["job_id"] for r in posts}) == 1 and sum(r.status_code == 202 for r in posts) == 1
        loaded = posts[0].json()["job_id"]
        assert _wait("the load's job finishes", lambda: job(loaded)["status"] == "SUCCEEDED", proc)
        long_id = httpx.post(f"{base}/v1/jobs", headers=auth, data={"path": str(long_video)}, timeout=30).json()[
            "job_id"
        ]
        _wait("the worker reports progress on the long job", lambda: job(long_id)["progress"], proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=DEADLINE_S)
    assert code == 0
    released = _state(factory, long_id)
    assert (released.status, released.attempts, released.lease_owner, released.progress) == ("QUEUED", 0, None, {})
    assert list(settings.analyses_dir.glob(f"{long_id}-*")) == []  # nothing half-written left
    # the server comes back (here: a worker alone) and the job is done, once
    assert JobWorker(settings, factory=factory).run(exit_when_idle=True) == 1
    finished = _state(factory, long_id)
    assert (finished.status, finished.attempts) == ("SUCCEEDED", 1)
    factory.kw["bind"].dispose()


def test_serve_refuses_an_unmigrated_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data-dir", str(tmp_path / "data"), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the database has no vidstruct schema") and err.count("\n") == 1
